/**
 * The hand-over scenario (issue 21): how late jobs due within seconds are right after a fresh
 * start of the stack, when some of them are fired by the API request that created them and
 * others must be handed to the tick that owns the minute. Each start is a new database, a new
 * Worker process and a ticker that fires the cron at once and at every minute boundary, as
 * `npm start` does. Right after the start, through the API, one call at a time:
 *   - jobs due every 2.5 s from 5 to 30 s ahead (default 15 s timeout: the API fires those
 *     due within 13 s, the tick the others);
 *   - one job due 8 s ahead with a 30 s timeout (too long for the API's after-response window:
 *     the API wakes the tick for it);
 *   - one job due 12 s ahead whose target answers 503 with `Retry-After: 2` once (the API fires
 *     it; its retry, 14 s after creation, falls past the API's window and is handed to the tick).
 * Lateness is measured by the receiver: arrival minus the attempt's planned time (the due time,
 * or for the retry the planned time Fliq recorded).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { startEmbeddedPostgres } from "../local/embedded-postgres";
import { createScratchDatabase } from "./database";
import { createBenchProject } from "./project";
import { type Runtime, startWorker } from "./runtime";
import { sleep } from "./stack";

/** Jobs not in by the last due time plus this count as missing. */
const DELIVERY_TIMEOUT_MS = 20_000;
const MINUTE_MS = 60_000;

export interface HandoverStart {
  jobs: number;
  /** Attempts the receiver got (the retry included). */
  arrivals: number;
  missing: number;
  /** The latest arrival against its planned time, in ms. */
  worstLatenessMs: number;
  /** What was latest, e.g. "due +11 s, attempt 2". */
  worstWhat: string;
}

export interface HandoverResult {
  starts: HandoverStart[];
  worstLatenessMs: number;
}

interface Arrival {
  path: string;
  at: number;
  attempt: number;
}

/** Where each fresh start's database lives: a scratch database on the local PostgreSQL, or `npm start`'s embedded PGlite. */
export type HandoverDatabase = "postgres" | "embedded";

export interface HandoverDeps {
  serverUrl: string;
  database: HandoverDatabase;
  migrate: (databaseUrl: string) => Promise<void>;
  localDbProxy: string;
  runtime: Runtime;
  root: string;
  logFile: string;
  vars: Record<string, string>;
}

/** Runs the scenario from `starts` fresh starts, one after another. */
export async function runHandoverScenario(deps: HandoverDeps, starts: number): Promise<HandoverResult> {
  const results: HandoverStart[] = [];
  for (let index = 1; index <= starts; index++) {
    const result = await oneFreshStart(deps);
    console.log(
      `[bench handover] start ${index}/${starts}: ${result.arrivals} attempts, ${result.missing} missing, ` +
        `worst ${result.worstLatenessMs.toFixed(1)} ms late (${result.worstWhat})`,
    );
    results.push(result);
  }
  return { starts: results, worstLatenessMs: Math.max(...results.map((r) => r.worstLatenessMs)) };
}

async function oneFreshStart(deps: HandoverDeps): Promise<HandoverStart> {
  const receiver = await startReceiver();
  const database = await freshDatabase(deps);
  const ticks = new AbortController();
  let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
  try {
    const { token } = await createBenchProject(database.url, deps.localDbProxy);
    worker = await startWorker(deps.runtime, {
      root: deps.root,
      inspector: false,
      logFile: deps.logFile,
      vars: {
        DATABASE_URL: database.url,
        LOCAL_DB_PROXY: deps.localDbProxy,
        ALLOW_LOOPBACK_TARGETS: "true",
        ...deps.vars,
      },
    });
    startTicker(worker.scheduledUrl, ticks.signal);

    const api = { url: worker.url, token };
    const planned = new Map<string, number>();
    const create = async (path: string, dueInMs: number, extra: object = {}) => {
      const dueAt = Date.now() + dueInMs;
      await createJob(api, { url: `${receiver.url}${path}`, scheduled_at: new Date(dueAt).toISOString(), ...extra });
      planned.set(path, dueAt);
    };
    for (let dueIn = 5_000; dueIn <= 30_000; dueIn += 2_500) await create(`/ok/due-${dueIn}`, dueIn);
    await create("/ok/long-timeout", 8_000, { timeout_ms: 30_000 });
    // A short backoff (0.5 to 1 s): the Retry-After sets the retry's time, 2 s after the answer.
    await create("/retry-after-2-once/due-12000", 12_000, {
      max_retries: 2,
      retry_backoff: { initial_delay_ms: 1_000 },
    });
    const paths = [...planned.keys()];
    const deadline = Math.max(...planned.values()) + DELIVERY_TIMEOUT_MS;
    const done = () =>
      paths.every((path) =>
        receiver.arrivals.some((a) => a.path === path && (!path.startsWith("/retry") || a.attempt === 2)),
      );
    while (!done() && Date.now() < deadline) await sleep(100);

    // The retry's planned time is Fliq's own record (Retry-After counted from the first answer).
    const retryPlanned = await database.client.query<{ planned_ms: string }>(
      `SELECT (extract(epoch FROM a.planned_at) * 1000)::text AS planned_ms
       FROM job_attempts a JOIN jobs j ON j.id = a.job_id WHERE j.url LIKE '%/retry-after-2-once/%' AND a.attempt = 2`,
    );
    let worst = 0;
    let worstWhat = "none";
    for (const arrival of receiver.arrivals) {
      const plannedAt =
        arrival.attempt === 2 ? Number(retryPlanned.rows[0]?.planned_ms ?? Number.NaN) : planned.get(arrival.path);
      if (plannedAt === undefined || Number.isNaN(plannedAt)) continue;
      const late = arrival.at - plannedAt;
      if (late > worst) {
        worst = late;
        worstWhat = `${arrival.path}, attempt ${arrival.attempt}`;
      }
    }
    const missing = paths.filter((path) => !receiver.arrivals.some((a) => a.path === path)).length;
    const retried = receiver.arrivals.some((a) => a.attempt === 2);
    return {
      jobs: paths.length,
      arrivals: receiver.arrivals.length,
      missing: missing + (retried ? 0 : 1),
      worstLatenessMs: missing > 0 || !retried ? Number.POSITIVE_INFINITY : worst,
      worstWhat,
    };
  } finally {
    ticks.abort();
    await worker?.stop();
    await database.drop();
    await receiver.close();
  }
}

/** A new, migrated database for one fresh start, with the bench's own connection to it. */
async function freshDatabase(deps: HandoverDeps): Promise<{ url: string; client: pg.Client; drop(): Promise<void> }> {
  if (deps.database === "postgres") {
    return createScratchDatabase(deps.serverUrl, deps.migrate, { countStatements: false });
  }
  const embedded = await startEmbeddedPostgres();
  const client = new pg.Client({ connectionString: embedded.databaseUrl });
  try {
    await deps.migrate(embedded.databaseUrl);
    await client.connect();
  } catch (error) {
    await embedded.close();
    throw error;
  }
  return {
    url: embedded.databaseUrl,
    client,
    async drop() {
      await client.end().catch(() => {});
      await embedded.close();
    },
  };
}

/** As `npm start`'s ticker: a tick for the minute under way now, then one at every minute boundary. */
function startTicker(scheduledUrl: string, signal: AbortSignal): void {
  const fire = (time: number) => {
    // A tick answers only once its window has passed; the scenario does not wait for it.
    fetch(`${scheduledUrl}?cron=*+*+*+*+*&time=${time}`, { signal })
      .then((response) => response.body?.cancel())
      .catch(() => {});
  };
  fire(Date.now());
  const next = () => {
    const at = Math.ceil((Date.now() + 1) / MINUTE_MS) * MINUTE_MS;
    const timer = setTimeout(() => {
      fire(at);
      next();
    }, at - Date.now());
    signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  };
  next();
}

async function createJob(api: { url: string; token: string }, job: object): Promise<void> {
  const response = await fetch(`${api.url}/jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${api.token}`, "content-type": "application/json" },
    body: JSON.stringify(job),
  });
  if (response.status !== 201) throw new Error(`creating a job failed: ${response.status} ${await response.text()}`);
}

/** A receiver that answers 200, except `/retry-after-2-once/…`: 503 with `Retry-After: 2` the first time. */
async function startReceiver(): Promise<{ url: string; arrivals: Arrival[]; close(): Promise<void> }> {
  const arrivals: Arrival[] = [];
  const server: Server = createServer((req, res) => {
    const path = req.url ?? "";
    const attempt = Number(req.headers["fliq-attempt"]);
    arrivals.push({ path, at: performance.timeOrigin + performance.now(), attempt });
    req.resume();
    if (path.startsWith("/retry-after-2-once/") && attempt === 1) {
      res.writeHead(503, { "retry-after": "2", "content-length": "0" });
    } else {
      res.writeHead(200, { "content-length": "0" });
    }
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
