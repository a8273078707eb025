/**
 * The topic scenario: fan-out with one endpoint failing. A topic with three endpoints (three
 * receivers, one answering 500 to everything), N messages published through the API, all due
 * within one second. Each message becomes three jobs; the two healthy endpoints must get theirs on
 * time and exactly once, and the failing one's jobs must be retried on their own, until its destination,
 * failing DESTINATION_PAUSE_AFTER times in a row, is paused and the rest of its jobs wait unspent.
 * The messages are due after the publishing invocation's own window (as the other delivery
 * scenarios' jobs are), and the bench fires the tick ahead of them: the tick delivers them all and
 * makes the failing endpoint's retries inside its minute.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Api } from "./create-jobs";
import { prepareHistory } from "./history";
import { type RecordingReceiver, startRecordingReceiver } from "./receiver";
import { type BenchContext, fireTick } from "./scenarios";
import { sleep } from "./stack";
import { type Percentiles, percentiles } from "./stats";

/** What the topic scenario measured. */
export interface TopicResult {
  scenario: "topic";
  messages: number;
  /** Publishes that did not answer 201. */
  publishFailures: number;
  firstError?: string;
  /** POST /topics/:name/jobs round trips as the client saw them. */
  publishLatencyMs: Percentiles | null;
  /** The two healthy endpoints together: first-attempt lateness (arrival minus due time). */
  healthy: { jobs: number; latenessMs: Percentiles | null; missing: number; duplicates: number };
  /**
   * The failing endpoint: its jobs, every attempt it received, the most any one job got, the
   * jobs never attempted (held by its paused destination), and its destination's state at the end.
   */
  failing: {
    jobs: number;
    attempts: number;
    maxAttemptsPerJob: number;
    expectedAttempts: number;
    neverAttempted: number;
    destinationState: string;
  };
}

/**
 * Messages are due this long after publishing is expected to end: past the publishing invocation's
 * own window (13 s), so the tick, not the API, fires them.
 */
const LEAD_MS = 25_000;
/** The tick is fired this long before the first due time (it claims its whole window at its start). */
const TICK_LEAD_MS = 17_000;
/** A tick's window and how much longer it may take to answer. */
const TICK_TIMEOUT_MS = 185_000;
/** The failing endpoint's jobs: retried twice, a second apart at first. */
const MAX_RETRIES = 2;
/** How long after the last due time the scenario waits for the retries to come in. */
const SETTLE_MS = 15_000;

/** A receiver that answers 500 to every request and counts them by job. */
async function startFailingReceiver() {
  const attempts = new Map<string, number>();
  const server = createServer((req, res) => {
    const id = String(req.headers["fliq-job-id"] ?? "");
    attempts.set(id, (attempts.get(id) ?? 0) + 1);
    req.resume();
    res.writeHead(500, { "content-length": "0" });
    res.end();
  });
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    attempts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function call(api: Api, method: string, path: string, body: unknown) {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${api.token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

interface PublishedJob {
  id: string;
  url: string;
}

/**
 * Runs the topic scenario: `messages` publishes, `concurrency` in flight. With `--history warm`
 * the three endpoints are called first (the failing one's failures count toward its pause), as a
 * topic's endpoints in use are: the tick then plans the burst from their measured latency.
 */
export async function runTopicScenario(ctx: BenchContext, messages: number, concurrency = 8): Promise<TopicResult> {
  const { api } = ctx;
  const log = (line: string) => console.log(`[bench topic] ${line}`);
  const healthyReceivers: RecordingReceiver[] = [await startRecordingReceiver(), await startRecordingReceiver()];
  const failing = await startFailingReceiver();
  try {
    const name = `bench-${crypto.randomUUID().slice(0, 8)}`;
    const endpoints = [healthyReceivers[0].url, failing.url, healthyReceivers[1].url].map((url) => `${url}/callback`);
    const topic = await call(api, "POST", "/topics", { name, endpoints });
    if (topic.status !== 201) throw new Error(`creating the topic failed: ${JSON.stringify(topic.body)}`);
    await prepareHistory(
      ctx,
      endpoints.map((url) => ({ api, url })),
    );
    for (const receiver of healthyReceivers) receiver.clear();
    failing.attempts.clear();

    // Publishing is measured first on a few messages due in an hour, to set how far ahead to schedule.
    const probeStart = performance.now();
    for (let i = 0; i < 5; i++) await call(api, "POST", `/topics/${name}/jobs`, { delay: "1h" });
    const perPublishMs = (performance.now() - probeStart) / 5;
    const firstDueAt = Math.ceil((Date.now() + (perPublishMs * messages * 1.5) / concurrency + LEAD_MS) / 1000) * 1000;
    log(`publishing ${messages} messages (${concurrency} in flight), due from ${new Date(firstDueAt).toISOString()}`);

    const jobs: PublishedJob[] = [];
    const latencies: number[] = [];
    let publishFailures = 0;
    let firstError: string | undefined;
    let next = 0;
    const worker = async () => {
      while (next < messages) {
        const index = next++;
        const scheduledAt = new Date(firstDueAt + Math.floor((index * 1000) / messages)).toISOString();
        const started = performance.now();
        const answer = await call(api, "POST", `/topics/${name}/jobs`, {
          scheduled_at: scheduledAt,
          timeout_ms: 5_000,
          max_retries: MAX_RETRIES,
          retry_backoff: { initial_delay_ms: 1_000, max_delay_ms: 2_000 },
        });
        latencies.push(performance.now() - started);
        if (answer.status === 201) jobs.push(...(answer.body.jobs as PublishedJob[]));
        else {
          publishFailures++;
          firstError ??= JSON.stringify(answer.body);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const lead = firstDueAt - Date.now();
    log(`published in time, ${(lead / 1000).toFixed(1)} s before the first due time${lead < 0 ? " (LATE)" : ""}`);

    await sleep(firstDueAt - TICK_LEAD_MS - Date.now());
    log(`firing the tick ${((firstDueAt - Date.now()) / 1000).toFixed(1)} s before the first due time`);
    const tick = fireTick(ctx.worker.scheduledUrl, Date.now(), TICK_TIMEOUT_MS);
    await sleep(firstDueAt + 1_000 + SETTLE_MS - Date.now());
    const outcome = await tick;
    log(`the tick answered ${outcome.outcome} after ${(outcome.durationMs / 1000).toFixed(1)} s`);

    const healthyUrls = new Set(endpoints.filter((_, i) => i !== 1));
    const healthyJobs = jobs.filter((job) => healthyUrls.has(job.url));
    const failingJobs = jobs.filter((job) => !healthyUrls.has(job.url));
    const arrivals = healthyReceivers.flatMap((receiver) => receiver.arrivals);
    const byJob = new Map<string, number[]>();
    for (const arrival of arrivals) {
      const lateness = arrival.at - arrival.scheduledAt;
      byJob.set(arrival.jobId, [...(byJob.get(arrival.jobId) ?? []), lateness]);
    }
    const firstLateness = healthyJobs.flatMap((job) => {
      const seen = byJob.get(job.id);
      return seen ? [Math.min(...seen)] : [];
    });
    const failingAttempts = failingJobs.map((job) => failing.attempts.get(job.id) ?? 0);
    const listed = await fetch(`${api.url}/destinations`, { headers: { authorization: `Bearer ${api.token}` } });
    // An engine from before destination health (--source) has no such route: its state is "unknown".
    const { destinations = [] } = listed.ok
      ? ((await listed.json()) as { destinations?: Array<{ destination: string; state: string }> })
      : {};
    const failingState = destinations.find((d) => d.destination === failing.url)?.state ?? "unknown";
    return {
      scenario: "topic",
      messages,
      publishFailures,
      firstError,
      publishLatencyMs: latencies.length ? percentiles([...latencies].sort((a, b) => a - b)) : null,
      healthy: {
        jobs: healthyJobs.length,
        latenessMs: firstLateness.length ? percentiles(firstLateness.sort((a, b) => a - b)) : null,
        missing: healthyJobs.filter((job) => !byJob.has(job.id)).length,
        duplicates: arrivals.length - byJob.size,
      },
      failing: {
        jobs: failingJobs.length,
        attempts: failingAttempts.reduce((sum, n) => sum + n, 0),
        maxAttemptsPerJob: Math.max(0, ...failingAttempts),
        expectedAttempts: failingJobs.length * (1 + MAX_RETRIES),
        neverAttempted: failingAttempts.filter((n) => n === 0).length,
        destinationState: failingState,
      },
    };
  } finally {
    await Promise.all([...healthyReceivers.map((r) => r.close()), failing.close()]);
  }
}

/** The scenario's lines for the console. */
export function printTopicResult(result: TopicResult): void {
  const p = result.healthy.latenessMs;
  console.log(
    `[bench topic] ${result.messages} messages x 3 endpoints; publish failures ${result.publishFailures}` +
      `${result.firstError ? ` (first: ${result.firstError})` : ""}; publish p50 ${result.publishLatencyMs?.p50.toFixed(1)} ms\n` +
      `[bench topic] healthy endpoints: ${result.healthy.jobs} jobs, lateness p50 ${p?.p50.toFixed(1)} ms, p99 ${p?.p99.toFixed(1)} ms, max ${p?.max.toFixed(1)} ms; missing ${result.healthy.missing}, duplicates ${result.healthy.duplicates}\n` +
      `[bench topic] failing endpoint: ${result.failing.jobs} jobs, ${result.failing.attempts} attempts (${result.failing.expectedAttempts} without destination health), at most ${result.failing.maxAttemptsPerJob} per job; ` +
      `${result.failing.neverAttempted} jobs never attempted; its destination ${result.failing.destinationState}`,
  );
}
