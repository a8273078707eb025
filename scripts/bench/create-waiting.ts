/**
 * `--scenario create-waiting`: does creating a job slow down as a project fills? Two projects
 * on one Worker: one empty, one with 100,000 jobs waiting (inserted with set-based SQL, due days
 * ahead, so the tick never touches them). Then single `POST /jobs` calls, one at a time, to
 * each project in turn (which goes first alternates by round), so both see the same machine.
 * The jobs created are due a day ahead too; the "empty" project ends with a few hundred waiting.
 */
import { type Api, createJobs } from "./create-jobs";
import { createScratchDatabase } from "./database";
import { createBenchProject } from "./project";
import { type Runtime, startWorker } from "./runtime";
import { Cleanup } from "./stack";
import { type Percentiles, percentiles } from "./stats";

const WAITING = 100_000;
const ROUNDS = 8;
const WARM_UP = 50;

export interface CreateWaitingResult {
  scenario: "create-waiting";
  waiting: number;
  requestsPerProject: number;
  empty: Percentiles;
  full: Percentiles;
  /** Median latency of each round, empty and full, in the order run. */
  roundMedians: Array<{ empty: number; full: number }>;
  /** full / empty, for p50 and p99. */
  ratioP50: number;
  ratioP99: number;
}

/** Runs the scenario on a scratch database and a Worker of its own. */
export async function runCreateWaitingScenario(options: {
  serverUrl: string;
  migrate: (databaseUrl: string) => Promise<void>;
  localDbProxy: string;
  runtime: Runtime;
  root: string;
  logFile: string;
  vars: Record<string, string>;
  /** Requests to each project per round (8 rounds). */
  perRound: number;
}): Promise<CreateWaitingResult> {
  const PER_ROUND = options.perRound;
  const cleanup = new Cleanup();
  try {
    const database = await createScratchDatabase(options.serverUrl, options.migrate, { countStatements: false });
    cleanup.add("scratch database", database.drop);
    console.log(`[bench create-waiting] scratch database ${database.name}`);
    const empty = await createBenchProject(database.url, options.localDbProxy);
    const full = await createBenchProject(database.url, options.localDbProxy);
    const started = performance.now();
    await database.client.query(
      `INSERT INTO jobs (id, project_id, url, http_method, headers, body, scheduled_at, run_at, max_retries, timeout_ms,
                         status, attempt, created_at, updated_at)
       SELECT gen_random_uuid(), $1::uuid, 'https://example.com/hook', 'POST', '{"content-type":"application/json"}',
              '{"bench":' || i || '}', at, at, 3, 15000, 'scheduled', 0, now(), now()
       FROM generate_series(1, $2::int) AS i, LATERAL (SELECT now() + interval '2 days' + i * interval '1 second' AS at) t`,
      [full.projectId, WAITING],
    );
    await database.client.query("VACUUM ANALYZE jobs");
    console.log(
      `[bench create-waiting] ${WAITING.toLocaleString("en")} jobs waiting in one project ` +
        `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );

    const worker = await startWorker(options.runtime, {
      root: options.root,
      inspector: false,
      vars: {
        DATABASE_URL: database.url,
        LOCAL_DB_PROXY: options.localDbProxy,
        ALLOW_LOOPBACK_TARGETS: "true",
        // Room above the 100,000 already waiting, so the full project's creates are accepted and timed.
        MAX_SCHEDULED_JOBS_PER_PROJECT: "1000000",
        ...options.vars,
      },
      logFile: options.logFile,
    });
    cleanup.add("Worker", worker.stop);
    const apis = { empty: { url: worker.url, token: empty.token }, full: { url: worker.url, token: full.token } };
    const dueTimes = (count: number) => Array<number>(count).fill(Date.now() + 86_400_000);
    const create = async (api: Api, count: number) => {
      const result = await createJobs(api, "http://127.0.0.1:9/never", dueTimes(count), {
        concurrency: 1,
        batchSize: 1,
      });
      if (result.failures > 0) throw new Error(`POST /jobs failed: ${result.firstError}`);
      return result.latenciesMs;
    };
    await create(apis.empty, WARM_UP);
    await create(apis.full, WARM_UP);

    const latencies = { empty: [] as number[], full: [] as number[] };
    const roundMedians: CreateWaitingResult["roundMedians"] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (["empty", "full"] as const) : (["full", "empty"] as const);
      const measured = { empty: [] as number[], full: [] as number[] };
      // One request to each in turn, so a burst of load on the machine hits both alike.
      for (let i = 0; i < PER_ROUND; i++) {
        for (const which of order) measured[which].push(...(await create(apis[which], 1)));
      }
      const medians = { empty: 0, full: 0 };
      for (const which of order) {
        latencies[which].push(...measured[which]);
        medians[which] = percentiles(measured[which].sort((a, b) => a - b)).p50;
      }
      roundMedians.push(medians);
      console.log(
        `[bench create-waiting] round ${round + 1}: p50 empty ${medians.empty.toFixed(1)} ms, ` +
          `100,000 waiting ${medians.full.toFixed(1)} ms`,
      );
    }
    const emptyStats = percentiles(latencies.empty.sort((a, b) => a - b));
    const fullStats = percentiles(latencies.full.sort((a, b) => a - b));
    return {
      scenario: "create-waiting",
      waiting: WAITING,
      requestsPerProject: latencies.empty.length,
      empty: emptyStats,
      full: fullStats,
      roundMedians,
      ratioP50: fullStats.p50 / emptyStats.p50,
      ratioP99: fullStats.p99 / emptyStats.p99,
    };
  } finally {
    await cleanup.run();
  }
}
