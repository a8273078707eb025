/**
 * Creates jobs the way users do, through the API: `POST /jobs/batch` (up to `batchSize` jobs per
 * request), or one `POST /jobs` per job when `batchSize` is 1, with a bounded number of requests in flight.
 */
import { Agent, request as httpRequest } from "node:http";

/** Where the API is and how to call it. */
export interface Api {
  url: string;
  token: string;
}

/** What a batch of POST /jobs requests produced. */
export interface CreationResult {
  /** Ids of the jobs created, in request order (failed requests leave no id). */
  ids: string[];
  failures: number;
  firstError?: string;
  elapsedMs: number;
  /** Jobs created per second. */
  rate: number;
  /** How long each successful request took, from sending it to its whole answer, ascending. */
  latenciesMs: number[];
}

/** The largest batch `POST /jobs/batch` accepts. */
export const MAX_BATCH_SIZE = 1000;

/**
 * Creates one job per due time (epoch ms), each calling `callbackUrl`, `batchSize` jobs per
 * request and `concurrency` requests at a time; `fields` are added to every job (`timeout_ms`, say).
 */
export async function createJobs(
  api: Api,
  callbackUrl: string,
  dueTimes: readonly number[],
  options: { concurrency: number; batchSize: number; fields?: Record<string, unknown> },
): Promise<CreationResult> {
  const ids: Array<string | undefined> = new Array(dueTimes.length);
  let failures = 0;
  let firstError: string | undefined;
  const chunks: number[] = [];
  for (let start = 0; start < dueTimes.length; start += options.batchSize) chunks.push(start);
  let next = 0;
  const latenciesMs: number[] = [];
  const started = performance.now();

  const worker = async () => {
    for (let chunk = next++; chunk < chunks.length; chunk = next++) {
      const first = chunks[chunk];
      const indexes = Array.from(
        { length: Math.min(options.batchSize, dueTimes.length - first) },
        (_, offset) => first + offset,
      );
      try {
        const requests = indexes.map((index) => ({
          ...jobRequest(callbackUrl, dueTimes[index], index),
          ...options.fields,
        }));
        const sent = performance.now();
        const created =
          options.batchSize === 1 ? [await createJob(api, requests[0])] : await createBatch(api, requests);
        latenciesMs.push(performance.now() - sent);
        created.forEach((id, offset) => {
          ids[indexes[offset]] = id;
        });
      } catch (error) {
        // Not retried: a request that failed after the insert would create the jobs twice.
        failures += indexes.length;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, chunks.length) }, worker));

  const elapsedMs = performance.now() - started;
  const created = ids.filter((id): id is string => id !== undefined);
  latenciesMs.sort((a, b) => a - b);
  return { ids: created, failures, firstError, elapsedMs, rate: created.length / (elapsedMs / 1000), latenciesMs };
}

/** The body of one `POST /jobs`, as the bench sends it. */
export function jobRequest(callbackUrl: string, dueAt: number, index: number) {
  return {
    url: callbackUrl,
    http_method: "POST",
    scheduled_at: new Date(dueAt).toISOString(),
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ bench: index }),
    max_retries: 3,
  };
}

async function createJob(api: Api, request: object): Promise<string> {
  const created = (await post(api, "/jobs", request)) as { id: string };
  return created.id;
}

async function createBatch(api: Api, requests: object[]): Promise<string[]> {
  const created = (await post(api, "/jobs/batch", { jobs: requests })) as { jobs: Array<{ id: string }> };
  return created.jobs.map((job) => job.id);
}

/**
 * The bench's HTTP client: Node's own `http` with kept-alive connections, as a server-side caller
 * keeps them. Global `fetch` (undici, with WHATWG streams around every body) cost the bench's
 * process more CPU per request than the bridge and the receiver together, on the cores the
 * Worker and Postgres need.
 */
const keepAlive = new Agent({ keepAlive: true, maxSockets: 256 });

async function post(api: Api, path: string, payload: object): Promise<unknown> {
  const { status, text } = await postJson(`${api.url}${path}`, payload, { authorization: `Bearer ${api.token}` });
  if (status !== 201) throw new Error(`POST ${path} answered ${status}: ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

/** POSTs `payload` as JSON through the bench's kept-alive client; answers the status and the whole body. */
export async function postJson(
  url: string,
  payload: object,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const body = Buffer.from(JSON.stringify(payload));
  return await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const request = httpRequest(
      url,
      {
        method: "POST",
        agent: keepAlive,
        headers: { ...headers, "content-type": "application/json", "content-length": body.length },
        timeout: 60_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`POST ${url} took over 60 s`)));
    request.on("error", reject);
    request.end(body);
  });
}
