/**
 * Creates jobs the way users do, through `POST /jobs`, with a bounded number of requests in flight.
 */

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
}

/** Creates one job per due time (epoch ms), each calling `callbackUrl`, `concurrency` requests at a time. */
export async function createJobs(
  api: Api,
  callbackUrl: string,
  dueTimes: readonly number[],
  concurrency: number,
): Promise<CreationResult> {
  const ids: Array<string | undefined> = new Array(dueTimes.length);
  let failures = 0;
  let firstError: string | undefined;
  let next = 0;
  const started = performance.now();

  const worker = async () => {
    for (let index = next++; index < dueTimes.length; index = next++) {
      try {
        ids[index] = await createJob(api, callbackUrl, dueTimes[index], index);
      } catch (error) {
        // Not retried: a request that failed after the insert would create a second job.
        failures++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, dueTimes.length) }, worker));

  const elapsedMs = performance.now() - started;
  const created = ids.filter((id): id is string => id !== undefined);
  return { ids: created, failures, firstError, elapsedMs, rate: created.length / (elapsedMs / 1000) };
}

async function createJob(api: Api, callbackUrl: string, dueAt: number, index: number): Promise<string> {
  const response = await fetch(`${api.url}/jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${api.token}`, "content-type": "application/json" },
    body: JSON.stringify({
      url: callbackUrl,
      http_method: "POST",
      scheduled_at: new Date(dueAt).toISOString(),
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ bench: index }),
      max_retries: 3,
    }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`POST /jobs answered ${response.status}: ${text.slice(0, 200)}`);
  return (JSON.parse(text) as { id: string }).id;
}
