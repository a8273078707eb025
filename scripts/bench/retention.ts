/**
 * `--scenario retention`: how fast history retention deletes, and for how long it holds locks.
 * A scratch database gets `rows` rows of history past retention, built with set-based SQL (half
 * finished jobs, half their attempts, finished over ten days), beside history that must stay (recent
 * finished jobs, and waiting jobs with one old attempt each). Then the tick's own retention
 * (pruneHistory with the tick's PRUNE_PER_TICK, over the Worker's driver and the bridge) runs call
 * after call, as consecutive ticks would, until nothing old is left, while a writer on another
 * connection creates and cancels jobs in the same project and records how long each of its
 * statements took (a statement held up by a retention lock would show here).
 */
import pg from "pg";
import { openDatabase } from "../../src/db/client";
import { PRUNE_PER_TICK, pruneHistory } from "../../src/db/jobs";
import { createScratchDatabase } from "./database";
import { type Percentiles, percentiles } from "./stats";

const DAY_MS = 86_400_000;
const RETENTION_DAYS = 30;
/** Rows inserted per statement while building: big enough to be quick, small enough to show progress. */
const BUILD_CHUNK = 500_000;
const RECENT_JOBS = 100_000;
const WAITING_JOBS = 10_000;

export interface RetentionResult {
  scenario: "retention";
  /** Rows of old history built (finished jobs plus attempts). */
  rows: number;
  buildSeconds: number;
  /** pruneHistory calls (one per tick), and statements in all of them. */
  calls: number;
  statements: number;
  prunedJobs: number;
  prunedAttempts: number;
  /** Time spent in pruneHistory, all calls together. */
  pruneSeconds: number;
  rowsPerSecond: number;
  /** Rows one tick deletes when there is a backlog (median call), and the jobs a day that keeps up with. */
  rowsPerTick: number;
  jobsPerDayCapacity: number;
  longestStatementMs: number;
  /** Each tick's longest statement, over the ticks. */
  longestStatementPerTickMs: Percentiles;
  /** Mean statement time: all of retention's time over its statements. */
  meanStatementMs: number;
  longestCallMs: number;
  /** The concurrent writer's statement durations while retention ran. */
  writer: { statements: number; latencyMs: Percentiles | null };
  /** What must survive did: counted before and after. */
  kept: { recentJobs: number; waitingJobs: number; waitingAttempts: number; unfinishedCounter: number };
}

/** Builds `rows` rows of old history in a scratch database, prunes them all, and reports. */
export async function runRetentionScenario(
  serverUrl: string,
  migrate: (databaseUrl: string) => Promise<void>,
  localDbProxy: string,
  rows: number,
): Promise<RetentionResult> {
  const database = await createScratchDatabase(serverUrl, migrate, { countStatements: false });
  console.log(`[bench retention] scratch database ${database.name}`);
  try {
    const client = database.client;
    const started = performance.now();
    const projectId = await buildHistory(client, rows);
    const buildSeconds = (performance.now() - started) / 1000;
    console.log(`[bench retention] built ${rows.toLocaleString("en")} old rows in ${buildSeconds.toFixed(0)} s`);

    const writer = startWriter(database.url, projectId);
    const fliq = openDatabase({ databaseUrl: database.url, localDbProxy });
    const cutoff = new Date(Date.now() - RETENTION_DAYS * DAY_MS);
    const calls: Array<{ ms: number; rows: number; statements: number; longestStatementMs: number }> = [];
    let prunedJobs = 0;
    let prunedAttempts = 0;
    try {
      for (;;) {
        const callStarted = performance.now();
        const report = await pruneHistory(fliq.db, cutoff, PRUNE_PER_TICK);
        const ms = performance.now() - callStarted;
        calls.push({
          ms,
          rows: report.jobs + report.attempts,
          statements: report.statements,
          longestStatementMs: report.longestStatementMs,
        });
        prunedJobs += report.jobs;
        prunedAttempts += report.attempts;
        if (calls.length % 20 === 0) {
          const done = prunedJobs + prunedAttempts;
          console.log(`[bench retention] ${calls.length} ticks: ${done.toLocaleString("en")} rows deleted`);
        }
        if (report.jobs + report.attempts === 0) break;
      }
    } finally {
      await fliq.close();
    }
    const writes = await writer.stop();

    const kept = await countKept(client, projectId);
    const left = await client.query<{ jobs: string; attempts: string }>(
      `SELECT (SELECT count(*) FROM jobs WHERE finished_at < $1)::text AS jobs,
              (SELECT count(*) FROM job_attempts WHERE fired_at < $1)::text AS attempts`,
      [cutoff],
    );
    if (Number(left.rows[0].jobs) + Number(left.rows[0].attempts) > 0) {
      throw new Error(`retention left old rows behind: ${JSON.stringify(left.rows[0])}`);
    }
    const pruneMs = calls.reduce((sum, call) => sum + call.ms, 0);
    // The ticks that had a full backlog (all but the last few, which mop up).
    const busy = calls.filter((call) => call.rows > 0).sort((a, b) => a.rows - b.rows);
    const rowsPerTick = busy[Math.floor(busy.length / 2)]?.rows ?? 0;
    // A job costs two rows here (the job and its attempt); a tick runs every minute.
    return {
      scenario: "retention",
      rows,
      buildSeconds,
      calls: calls.length,
      statements: calls.reduce((sum, call) => sum + call.statements, 0),
      prunedJobs,
      prunedAttempts,
      pruneSeconds: pruneMs / 1000,
      rowsPerSecond: (prunedJobs + prunedAttempts) / (pruneMs / 1000),
      rowsPerTick,
      jobsPerDayCapacity: (rowsPerTick / 2) * 1440,
      longestStatementMs: Math.max(...calls.map((call) => call.longestStatementMs)),
      longestStatementPerTickMs: percentiles(calls.map((call) => call.longestStatementMs).sort((a, b) => a - b)),
      meanStatementMs: pruneMs / calls.reduce((sum, call) => sum + call.statements, 0),
      longestCallMs: Math.max(...calls.map((call) => call.ms)),
      writer: { statements: writes.length, latencyMs: writes.length > 0 ? percentiles(writes) : null },
      kept,
    };
  } finally {
    await database.drop();
  }
}

/**
 * The history, set-based: `rows / 2` jobs finished 31 to 41 days ago with one attempt each,
 * RECENT_JOBS finished within the retention (with attempts), and WAITING_JOBS waiting jobs each
 * with an attempt 35 days old (pruned; the job stays). Returns the project's id.
 */
async function buildHistory(client: pg.Client, rows: number): Promise<string> {
  const project = await client.query<{ id: string }>(`INSERT INTO projects (name) VALUES ('retention') RETURNING id`);
  const projectId = project.rows[0].id;
  const oldJobs = Math.floor(rows / 2);
  // Bulk loading is the bench's setup, not what it measures: the secondary indexes are dropped
  // and built again afterwards (sorted builds, minutes faster), and the old history skips
  // triggers (foreign-key checks, and the counter, which finished jobs leave unchanged anyway).
  const indexes = await client.query<{ indexname: string; indexdef: string }>(
    `SELECT indexname, indexdef FROM pg_indexes
     WHERE tablename IN ('jobs', 'job_attempts') AND indexname NOT IN (SELECT conname FROM pg_constraint)`,
  );
  for (const index of indexes.rows) await client.query(`DROP INDEX "${index.indexname}"`);
  await client.query("SET session_replication_role = replica");
  const insertJobs = (count: number, select: string) =>
    client.query(
      `INSERT INTO jobs (id, project_id, url, http_method, headers, body, scheduled_at, run_at, max_retries, timeout_ms,
                         status, attempt, created_at, updated_at, finished_at)
       ${select}`,
      [projectId, count],
    );
  for (let done = 0; done < oldJobs; done += BUILD_CHUNK) {
    const count = Math.min(BUILD_CHUNK, oldJobs - done);
    // Finished at evenly spread moments 31 to 41 days ago; each attempt fired 100 ms before.
    await client.query(
      `WITH made AS (
         INSERT INTO jobs (id, project_id, url, http_method, headers, body, scheduled_at, run_at, max_retries,
                           timeout_ms, status, attempt, created_at, updated_at, finished_at)
         SELECT gen_random_uuid(), $1::uuid, 'https://example.com/hook', 'POST', '{"content-type":"application/json"}',
                '{"bench":' || i || '}', at, at, 3, 15000, 'succeeded', 1, at, at, at + interval '100 ms'
         FROM generate_series(1, $2::int) AS i,
              LATERAL (SELECT now() - interval '31 days' - (random() * interval '10 days') AS at) t
         RETURNING id, run_at
       )
       INSERT INTO job_attempts (job_id, attempt, planned_at, fired_at, lateness_ms, duration_ms, status_code,
                                 response_excerpt, outcome)
       SELECT id, 1, run_at, run_at + interval '2 ms', 2, 98, 200, 'ok', 'succeeded' FROM made`,
      [projectId, count],
    );
    console.log(`[bench retention] building: ${((done + count) * 2).toLocaleString("en")} rows`);
  }
  await client.query("RESET session_replication_role");
  for (const index of indexes.rows) await client.query(index.indexdef);
  console.log(`[bench retention] indexes built again: ${indexes.rows.map((index) => index.indexname).join(", ")}`);
  await insertJobs(
    RECENT_JOBS,
    `SELECT gen_random_uuid(), $1::uuid, 'https://example.com/recent', 'POST', '{}', NULL, at, at, 3, 15000, 'succeeded', 1,
            at, at, at FROM generate_series(1, $2::int) AS i, LATERAL (SELECT now() - (random() * interval '29 days') AS at) t`,
  );
  await client.query(
    `INSERT INTO job_attempts (job_id, attempt, planned_at, fired_at, lateness_ms, duration_ms, outcome)
     SELECT id, 1, finished_at, finished_at, 0, 1, 'succeeded' FROM jobs WHERE url = 'https://example.com/recent'`,
  );
  await insertJobs(
    WAITING_JOBS,
    `SELECT gen_random_uuid(), $1::uuid, 'https://example.com/waiting', 'POST', '{}', NULL, at, at, 3, 15000, 'scheduled', 1,
            at, at, NULL FROM generate_series(1, $2::int) AS i, LATERAL (SELECT now() + interval '1 day' AS at) t`,
  );
  await client.query(
    `INSERT INTO job_attempts (job_id, attempt, planned_at, fired_at, lateness_ms, duration_ms, status_code, outcome)
     SELECT id, 1, now() - interval '35 days', now() - interval '35 days', 0, 1, 503, 'retry'
     FROM jobs WHERE url = 'https://example.com/waiting'`,
  );
  // As a table that grew over weeks would be: analyzed and its visibility map set.
  await client.query("VACUUM ANALYZE jobs, job_attempts");
  return projectId;
}

async function countKept(client: pg.Client, projectId: string): Promise<RetentionResult["kept"]> {
  const result = await client.query<Record<keyof RetentionResult["kept"], string>>(
    `SELECT (SELECT count(*) FROM jobs WHERE url = 'https://example.com/recent')::text AS "recentJobs",
            (SELECT count(*) FROM jobs WHERE url = 'https://example.com/waiting')::text AS "waitingJobs",
            (SELECT count(*) FROM job_attempts a JOIN jobs j ON j.id = a.job_id
             WHERE j.url = 'https://example.com/waiting')::text AS "waitingAttempts",
            (SELECT unfinished FROM project_job_counts WHERE project_id = $1::uuid)::text AS "unfinishedCounter"`,
    [projectId],
  );
  const row = result.rows[0];
  return {
    recentJobs: Number(row.recentJobs),
    waitingJobs: Number(row.waitingJobs),
    waitingAttempts: Number(row.waitingAttempts),
    unfinishedCounter: Number(row.unfinishedCounter),
  };
}

/**
 * A writer beside retention, on its own connection: creates a job and cancels it, over and over,
 * in the project being pruned, and records each statement's duration.
 */
function startWriter(databaseUrl: string, projectId: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  const durations: number[] = [];
  let stopping = false;
  const running = (async () => {
    await client.connect();
    while (!stopping) {
      for (const text of [
        `INSERT INTO jobs (id, project_id, url, http_method, headers, scheduled_at, run_at, max_retries, timeout_ms,
                           status, created_at, updated_at)
         VALUES ('00000000-0000-4000-8000-000000000001', $1::uuid, 'https://example.com/probe', 'POST', '{}',
                 now() + interval '1 hour', now() + interval '1 hour', 3, 15000, 'scheduled', now(), now())`,
        `UPDATE jobs SET status = 'canceled', finished_at = now() WHERE id = '00000000-0000-4000-8000-000000000001'`,
        `DELETE FROM jobs WHERE id = '00000000-0000-4000-8000-000000000001'`,
      ]) {
        const sent = performance.now();
        await client.query(text, text.includes("$1") ? [projectId] : []);
        durations.push(performance.now() - sent);
      }
    }
    await client.end();
  })();
  return {
    async stop(): Promise<number[]> {
      stopping = true;
      await running;
      return durations.sort((a, b) => a - b);
    },
  };
}
