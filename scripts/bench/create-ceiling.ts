/**
 * `--scenario create-ceiling`: what a create costs on this machine with nothing of Fliq around
 * it, layer by layer, in the shapes of the `create` scenario (one job a request, 10 in flight)
 * and of `create-batch` (1,000 jobs a request, 4 in flight):
 *
 * - `postgres`: the bench inserts the jobs' JSON as rows, one statement a request, straight to
 *   PostgreSQL from Node (`pg`, a connection per request in flight): the database's own floor
 *   for a durable create;
 * - `bridge`: the same statement sent to the bridge's stand-in for Neon's SQL-over-HTTP endpoint,
 *   as Fliq's creates go (one HTTP request a statement, a pooled server connection each);
 * - `worker`: a bare Worker on the runtime under test (scripts/bench/create-ceiling-worker) that
 *   takes the jobs as `POST /jobs` and `POST /jobs/batch` do and sends that statement through
 *   the bridge.
 *
 * `create` and `create-batch` are read against it: Fliq's create is the `worker` row plus its
 * token, validation, limits and clock. Rounds alternate the layers, so each row has its spread
 * from the same minutes.
 */
import { join } from "node:path";
import pg from "pg";
import { jobRequest, postJson } from "./create-jobs";
import type { ScratchDatabase } from "./database";
import { type Runtime, startWorker } from "./runtime";
import { Cleanup } from "./stack";
import { type Percentiles, percentiles } from "./stats";

export type CeilingLayer = "postgres" | "bridge" | "worker";

/** How jobs are sent: jobs per request, requests in flight, and jobs per round. */
interface Shape {
  name: "single" | "batch";
  batchSize: number;
  inFlight: number;
  jobs: number;
}

export interface CreateCeilingRound {
  shape: Shape["name"];
  layer: CeilingLayer;
  created: number;
  failedRequests: number;
  jobsPerSecond: number;
  /** Per request, ms. */
  latencyMs: Percentiles;
}

export interface CreateCeilingResult {
  runtime: Runtime;
  shapes: Shape[];
  rounds: CreateCeilingRound[];
}

const SHAPES: readonly Shape[] = [
  { name: "single", batchSize: 1, inFlight: 10, jobs: 3_000 },
  { name: "batch", batchSize: 1_000, inFlight: 4, jobs: 20_000 },
];
const ROUNDS = 3;
const LAYERS: readonly CeilingLayer[] = ["postgres", "bridge", "worker"];
const ONE = "INSERT INTO create_ceiling (job) VALUES ($1) RETURNING id";
const MANY = "INSERT INTO create_ceiling (job) SELECT value FROM jsonb_array_elements($1::jsonb) RETURNING id";

export async function measureCreateCeiling(options: {
  database: ScratchDatabase;
  /** The bridge's `127.0.0.1:PORT`. */
  bridgeProxy: string;
  runtime: Runtime;
  scriptsDir: string;
  logFile: string;
}): Promise<CreateCeilingResult> {
  const { database, bridgeProxy } = options;
  const cleanup = new Cleanup();
  try {
    await database.client.query(
      "CREATE TABLE IF NOT EXISTS create_ceiling (id bigserial PRIMARY KEY, job jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
    );
    cleanup.add("create_ceiling table", async () => {
      await database.client.query("DROP TABLE IF EXISTS create_ceiling");
    });
    const sqlEndpoint = `http://${bridgeProxy}/sql`;
    const worker = await startWorker(options.runtime, {
      root: join(options.scriptsDir, "create-ceiling-worker"),
      vars: { DATABASE_URL: database.url, SQL_ENDPOINT: sqlEndpoint },
      logFile: options.logFile,
      inspector: false,
    });
    cleanup.add("create ceiling Worker", worker.stop);
    const pool = new pg.Pool({ connectionString: database.url, max: Math.max(...SHAPES.map((s) => s.inFlight)) });
    cleanup.add("pg pool", () => pool.end());

    /** The statement and its one parameter for a request's jobs. */
    const statementFor = (jobs: object[]) =>
      jobs.length === 1
        ? { query: ONE, params: [JSON.stringify(jobs[0])] }
        : { query: MANY, params: [JSON.stringify(jobs)] };
    const neonHeaders = {
      "Neon-Connection-String": database.url,
      "Neon-Raw-Text-Output": "true",
      "Neon-Array-Mode": "true",
    };
    const send: Record<CeilingLayer, (jobs: object[]) => Promise<void>> = {
      postgres: async (jobs) => {
        const { query, params } = statementFor(jobs);
        await pool.query(query, params);
      },
      bridge: async (jobs) => {
        const { status, text } = await postJson(sqlEndpoint, statementFor(jobs), neonHeaders);
        if (status !== 200) throw new Error(`the bridge answered ${status}: ${text.slice(0, 200)}`);
      },
      worker: async (jobs) => {
        const { status, text } = await postJson(worker.url, jobs.length === 1 ? jobs[0] : { jobs });
        if (status !== 201) throw new Error(`the ceiling Worker answered ${status}: ${text.slice(0, 200)}`);
      },
    };
    const dueAt = Date.now() + 3_600_000;
    const round = async (shape: Shape, layer: CeilingLayer, jobs: number): Promise<CreateCeilingRound> => {
      const requests = Math.ceil(jobs / shape.batchSize);
      const latencies: number[] = [];
      let next = 0;
      let failedRequests = 0;
      const startedAt = performance.now();
      const lane = async () => {
        for (let request = next++; request < requests; request = next++) {
          const batch = Array.from({ length: shape.batchSize }, (_, i) =>
            jobRequest("https://example.com/ceiling", dueAt, request * shape.batchSize + i),
          );
          const sent = performance.now();
          try {
            await send[layer](batch);
            latencies.push(performance.now() - sent);
          } catch (error) {
            if (failedRequests++ === 0) console.error(`[bench create-ceiling] ${shape.name}, ${layer}:`, error);
          }
        }
      };
      await Promise.all(Array.from({ length: shape.inFlight }, lane));
      const seconds = (performance.now() - startedAt) / 1000;
      const created = latencies.length * shape.batchSize;
      await database.client.query("TRUNCATE create_ceiling");
      return {
        shape: shape.name,
        layer,
        created,
        failedRequests,
        jobsPerSecond: created / seconds,
        latencyMs: percentiles(latencies.sort((a, b) => a - b)),
      };
    };
    const rounds: CreateCeilingRound[] = [];
    for (const shape of SHAPES) {
      // Warm-up: the Worker's first requests, the connections and the bridge's pool.
      for (const layer of LAYERS) await round(shape, layer, shape.jobs / 10);
      for (let i = 0; i < ROUNDS; i++) {
        for (const layer of LAYERS) {
          const measured = await round(shape, layer, shape.jobs);
          console.log(
            `[bench create-ceiling] ${shape.name}, round ${i + 1}, ${layer}: ${measured.jobsPerSecond.toFixed(0)} jobs/s, ` +
              `p50 ${measured.latencyMs.p50.toFixed(1)} ms, p99 ${measured.latencyMs.p99.toFixed(1)} ms a request, ` +
              `${measured.failedRequests} failed`,
          );
          rounds.push(measured);
        }
      }
    }
    return { runtime: options.runtime, shapes: [...SHAPES], rounds };
  } finally {
    await cleanup.run();
  }
}

/** The smallest, median and largest jobs a second of one shape and layer's rounds. */
export function ceilingSpread(result: CreateCeilingResult, shape: Shape["name"], layer: CeilingLayer) {
  const rates = result.rounds
    .filter((r) => r.shape === shape && r.layer === layer)
    .map((r) => r.jobsPerSecond)
    .sort((a, b) => a - b);
  return { min: rates[0], median: rates[Math.floor(rates.length / 2)], max: rates[rates.length - 1] };
}
