/**
 * The flow scenario: flow control by key, observed at the receivers. Four cases, each a burst
 * created through the API (POST /jobs/batch) and delivered by the tick of its own minute:
 * - rate: 1,000 jobs due at once on a key limited to 50 a second;
 * - parallel: 300 jobs due at once on a key of parallelism 3, to a target answering in 200 ms;
 * - keys: two keys with their own limits (parallelism 2 at a 200 ms target; 20 a second) and 50
 *   jobs without a key, all due within the same second;
 * - ordered: 100 jobs on an ordered key, due 10 ms apart.
 * The receivers record every arrival and how many requests they were answering at once.
 */
import type { Api } from "./create-jobs";
import { createJobs } from "./create-jobs";
import { type RecordingReceiver, startRecordingReceiver } from "./receiver";
import { fireTick } from "./scenarios";
import { sleep } from "./stack";
import { type Percentiles, percentiles } from "./stats";

/** What one key's jobs did at their receiver. */
export interface KeyOutcome {
  jobs: number;
  delivered: number;
  /** Jobs that never arrived by the deadline. */
  missing: number;
  /** Arrivals beyond the first per job. */
  duplicates: number;
  /** The most arrivals within any one second. */
  mostPerSecond: number;
  /** The most requests the receiver was answering at once. */
  peakInFlight: number;
  /** From the first due time to the last arrival. */
  spanMs: number;
  /** Arrivals that came before a job due earlier (ordered keys). */
  outOfOrder: number;
  /** Arrival minus due time, first attempts. */
  latenessMs: Percentiles | null;
}

export interface FlowResult {
  scenario: "flow";
  rate: KeyOutcome;
  parallel: KeyOutcome;
  keys: { parallelKey: KeyOutcome; rateKey: KeyOutcome; keyless: KeyOutcome };
  ordered: KeyOutcome;
}

/** Jobs are due this long after their tick's minute begins; the tick is fired DUE_AFTER_MINUTE_MS - TICK_LEAD_MS in. */
const DUE_AFTER_MINUTE_MS = 10_000;
const TICK_LEAD_MS = 8_000;
/** How long after the due time a case waits for its jobs. */
const DEADLINE_MS = 45_000;
/** Jobs are created at least this long before they are due: past the creating invocation's own window. */
const CREATE_LEAD_MS = 20_000;

interface Group {
  receiver: RecordingReceiver;
  dueTimes: number[];
  flow: object | null;
  ids: string[];
}

/** Runs one case: creates each group's jobs, fires the tick of their minute, waits for them, and measures each group. */
async function runCase(
  api: Api,
  scheduledUrl: string,
  name: string,
  groups: Omit<Group, "ids">[],
  offsets: number[][],
) {
  const log = (line: string) => console.log(`[bench flow ${name}] ${line}`);
  // The next minute far enough ahead to create the jobs first.
  const minute = Math.ceil((Date.now() + CREATE_LEAD_MS) / 60_000) * 60_000;
  const due = minute + DUE_AFTER_MINUTE_MS;
  const created: Group[] = [];
  for (const [index, group] of groups.entries()) {
    const dueTimes = offsets[index].map((offset) => due + offset);
    group.receiver.clear();
    const result = await createJobs(api, `${group.receiver.url}/callback`, dueTimes, {
      concurrency: 4,
      batchSize: 500,
      fields: { flow: group.flow, max_retries: 3, timeout_ms: 10_000 },
    });
    if (result.failures > 0) throw new Error(`creating the ${name} jobs failed: ${result.firstError}`);
    created.push({ ...group, dueTimes, ids: result.ids });
  }
  log(`${created.reduce((n, g) => n + g.ids.length, 0)} jobs due from ${new Date(due).toISOString()}`);
  await sleep(due - TICK_LEAD_MS - Date.now());
  const tick = fireTick(scheduledUrl, minute, 120_000);
  await Promise.all(created.map((group) => group.receiver.waitForJobs(group.ids, due + DEADLINE_MS)));
  const outcomes = created.map((group) => outcomeOf(group, due));
  log(`the tick answered ${(await tick).outcome}`);
  return outcomes;
}

function outcomeOf(group: Group, firstDue: number): KeyOutcome {
  const arrivals = group.receiver.arrivals.filter((arrival) => group.ids.includes(arrival.jobId));
  const firsts = new Map<string, (typeof arrivals)[number]>();
  for (const arrival of arrivals) if (!firsts.has(arrival.jobId)) firsts.set(arrival.jobId, arrival);
  const times = arrivals.map((arrival) => arrival.at).sort((a, b) => a - b);
  let mostPerSecond = 0;
  for (let last = 0, first = 0; last < times.length; last++) {
    while (times[last] - times[first] >= 1_000) first++;
    mostPerSecond = Math.max(mostPerSecond, last - first + 1);
  }
  // Due order is creation order here (the ids come back in the order sent): count arrivals behind a later job.
  const position = new Map(group.ids.map((id, index) => [id, index]));
  let outOfOrder = 0;
  let highest = -1;
  for (const arrival of firsts.values()) {
    const index = position.get(arrival.jobId) ?? 0;
    if (index < highest) outOfOrder++;
    highest = Math.max(highest, index);
  }
  const lateness = [...firsts.values()].map((arrival) => arrival.at - arrival.scheduledAt).sort((a, b) => a - b);
  return {
    jobs: group.ids.length,
    delivered: firsts.size,
    missing: group.ids.length - firsts.size,
    duplicates: arrivals.length - firsts.size,
    mostPerSecond,
    peakInFlight: group.receiver.peakInFlight,
    spanMs: times.length > 0 ? times[times.length - 1] - firstDue : 0,
    outOfOrder,
    latenessMs: lateness.length > 0 ? percentiles(lateness) : null,
  };
}

const same = (count: number) => Array.from({ length: count }, () => 0);
const spread = (count: number, stepMs: number) => Array.from({ length: count }, (_, index) => index * stepMs);
const key = (what: string) => `bench-${what}-${crypto.randomUUID().slice(0, 8)}`;

/** Runs the four cases, one minute each. */
export async function runFlowScenario(api: Api, scheduledUrl: string): Promise<FlowResult> {
  const fast = await startRecordingReceiver();
  const slow = await startRecordingReceiver({ answerAfterMs: 200 });
  const fast2 = await startRecordingReceiver();
  const plain = await startRecordingReceiver();
  try {
    const [rate] = await runCase(
      api,
      scheduledUrl,
      "rate",
      [{ receiver: fast, dueTimes: [], flow: { key: key("rate"), rate: { limit: 50, period: "1s" } } }],
      [same(1_000)],
    );
    const [parallel] = await runCase(
      api,
      scheduledUrl,
      "parallel",
      [{ receiver: slow, dueTimes: [], flow: { key: key("parallel"), parallelism: 3 } }],
      [same(300)],
    );
    const [parallelKey, rateKey, keyless] = await runCase(
      api,
      scheduledUrl,
      "keys",
      [
        { receiver: slow, dueTimes: [], flow: { key: key("two"), parallelism: 2 } },
        { receiver: fast, dueTimes: [], flow: { key: key("twenty"), rate: { limit: 20, period: "1s" } } },
        { receiver: plain, dueTimes: [], flow: null },
      ],
      [same(40), same(100), spread(50, 20)],
    );
    const [ordered] = await runCase(
      api,
      scheduledUrl,
      "ordered",
      [{ receiver: fast2, dueTimes: [], flow: { key: key("ordered"), ordered: true } }],
      [spread(100, 10)],
    );
    return { scenario: "flow", rate, parallel, keys: { parallelKey, rateKey, keyless }, ordered };
  } finally {
    await Promise.all([fast, slow, fast2, plain].map((receiver) => receiver.close()));
  }
}

function line(name: string, outcome: KeyOutcome): string {
  const p = outcome.latenessMs;
  return (
    `[bench flow] ${name}: ${outcome.delivered}/${outcome.jobs} delivered (missing ${outcome.missing}, duplicates ${outcome.duplicates}), ` +
    `most in 1 s ${outcome.mostPerSecond}, peak in flight ${outcome.peakInFlight}, out of order ${outcome.outOfOrder}, ` +
    `all in ${(outcome.spanMs / 1000).toFixed(1)} s; lateness p50 ${p?.p50.toFixed(1)} ms, p99 ${p?.p99.toFixed(1)} ms`
  );
}

/** The scenario's lines for the console. */
export function printFlowResult(result: FlowResult): void {
  console.log(
    [
      line("rate 50/s, 1,000 jobs", result.rate),
      line("parallelism 3 at 200 ms, 300 jobs", result.parallel),
      line("key of parallelism 2", result.keys.parallelKey),
      line("key of 20/s", result.keys.rateKey),
      line("jobs without a key", result.keys.keyless),
      line("ordered, 100 jobs", result.ordered),
    ].join("\n"),
  );
}
