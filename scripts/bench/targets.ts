/**
 * Scenarios with targets as the Internet has them, each its own receiver (so its own host and
 * port, as separate destinations are): one that answers at once, one that answers in 200 ms,
 * one in 2 s, and one that never answers. Jobs are created through the API by two projects and
 * delivered by one cron tick the bench fires ahead of them, as in the other delivery scenarios.
 *
 *   mixed:  100 jobs to a healthy target (50 per project), due over the same 2 s as 50 jobs to
 *           a 2 s target and 5 to a hanging one; the healthy jobs must stay on time (p99 < 100 ms).
 *   slow200: 1,000 jobs due within 1 s to a target answering in 200 ms (p99 < 1 s).
 *   slow200-10k: 10,000 jobs due within 1 s to a target answering in 200 ms (all delivered
 *           within 5 s of the first due time).
 */
import { type Api, createJobs } from "./create-jobs";
import { emptyJobs } from "./database";
import { prepareHistory } from "./history";
import { type ConnectionPeaks, describePeaks, readConnectionPeaks } from "./probe";
import { type RecordingReceiver, startRecordingReceiver } from "./receiver";
import { type BenchContext, fireTick } from "./scenarios";
import { sleep } from "./stack";
import { type DeliveryStats, summarizeDeliveries } from "./stats";

/** The first due time lies this far past the end of creation: no job is fired by the API. */
const CREATION_LEAD_MS = 25_000;
/** The tick is fired this long before the first due time, as in the other scenarios. */
const TICK_LEAD_MS = 17_000;
/** Jobs of the measured groups not in by the first due time plus this count as missing. */
const DELIVERY_TIMEOUT_MS = 60_000;
const TICK_WINDOW_MS = 65_000;
const TICK_RESPONSE_SLACK_MS = 120_000;

export const TARGET_SCENARIOS = ["mixed", "slow200", "slow200-10k"] as const;
export type TargetScenario = (typeof TARGET_SCENARIOS)[number];

/** A set of jobs of one project to one receiver, due evenly over `spreadMs` from the scenario's first due time. */
interface JobGroup {
  name: string;
  api: Api;
  receiver: RecordingReceiver;
  jobs: number;
  spreadMs: number;
  /** Whether the scenario waits for this group and reports its lateness (not for a hanging target). */
  measured: boolean;
  fields?: Record<string, unknown>;
}

export interface TargetResult {
  scenario: TargetScenario;
  description: string;
  groups: Array<{ name: string; deliveries: DeliveryStats }>;
  tick: { outcome: string; durationMs: number };
  /** The most connections any one invocation held at once, by kind, from creation to the tick's end. */
  connectionPeaks: ConnectionPeaks;
}

/**
 * The targets, one receiver per answer time, kept for the whole bench: each answer time is one
 * destination throughout (whether the planner knows it when a scenario starts: --history).
 */
export class TargetReceivers {
  private readonly started = new Map<number | "never", Promise<RecordingReceiver>>();

  /** The receiver that answers after `answerAfterMs` ("never": one that hangs). */
  get(answerAfterMs: number | "never"): Promise<RecordingReceiver> {
    let receiver = this.started.get(answerAfterMs);
    if (!receiver) {
      receiver = startRecordingReceiver({ answerAfterMs });
      this.started.set(answerAfterMs, receiver);
    }
    return receiver;
  }

  async close(): Promise<void> {
    await Promise.all([...this.started.values()].map(async (receiver) => (await receiver).close()));
  }
}

/** Runs one target scenario; `other` is a second project's API access. */
export async function runTargetScenario(
  ctx: BenchContext,
  other: Api,
  targets: TargetReceivers,
  name: TargetScenario,
): Promise<TargetResult> {
  const log = (line: string) => console.log(`[bench ${name}] ${line}`);
  const receivers: RecordingReceiver[] = [];
  const receiver = async (answerAfterMs: number | "never") => {
    const target = await targets.get(answerAfterMs);
    receivers.push(target);
    return target;
  };
  const groups: JobGroup[] = [];
  let description: string;
  if (name === "mixed") {
    description = "100 healthy jobs (two projects) due over 2 s with 50 to a 2 s target and 5 to a hanging one";
    const healthy = await receiver(0);
    const slow = await receiver(2_000);
    const hanging = await receiver("never");
    const settle = { max_retries: 0 };
    groups.push(
      { name: "healthy, project A", api: ctx.api, receiver: healthy, jobs: 50, spreadMs: 2_000, measured: true },
      { name: "healthy, project B", api: other, receiver: healthy, jobs: 50, spreadMs: 2_000, measured: true },
      {
        name: "2 s target, A",
        api: ctx.api,
        receiver: slow,
        jobs: 25,
        spreadMs: 2_000,
        measured: true,
        fields: settle,
      },
      {
        name: "2 s target, B",
        api: other,
        receiver: slow,
        jobs: 25,
        spreadMs: 2_000,
        measured: true,
        fields: settle,
      },
      {
        name: "hanging target, A",
        api: ctx.api,
        receiver: hanging,
        jobs: 5,
        spreadMs: 0,
        measured: false,
        fields: { ...settle, timeout_ms: 30_000 },
      },
    );
  } else {
    const jobs = name === "slow200" ? 1_000 : 10_000;
    description = `${jobs.toLocaleString("en")} jobs due within 1 s to a target answering in 200 ms`;
    const target = await receiver(200);
    groups.push({ name: "200 ms target", api: ctx.api, receiver: target, jobs, spreadMs: 1_000, measured: true });
  }

  await emptyJobs(ctx.database.client);
  const destinations = new Map(groups.map((group) => [`${group.api.token} ${group.receiver.url}`, group]));
  await prepareHistory(
    ctx,
    [...destinations.values()].map((group) => ({
      api: group.api,
      url: `${group.receiver.url}/callback`,
      fields: group.fields,
    })),
  );
  for (const target of receivers) target.clear();
  // Started over: the scenario's own peaks, creation's included.
  await readConnectionPeaks(ctx.api.url);
  const total = groups.reduce((sum, group) => sum + group.jobs, 0);
  const estimatedCreationMs = (total / ctx.creationRate) * 1000 * 1.15;
  const firstDueAt = Math.ceil((Date.now() + estimatedCreationMs + CREATION_LEAD_MS) / 1000) * 1000;
  log(`creating ${total} jobs, first due ${new Date(firstDueAt).toISOString()}`);
  const created = new Map<JobGroup, string[]>();
  for (const group of groups) {
    const dueTimes = Array.from(
      { length: group.jobs },
      (_, index) => firstDueAt + Math.floor((index * group.spreadMs) / group.jobs),
    );
    const result = await createJobs(group.api, `${group.receiver.url}/callback`, dueTimes, {
      ...ctx.creation,
      fields: group.fields,
    });
    if (result.failures > 0) throw new Error(`creating "${group.name}" failed: ${result.firstError}`);
    created.set(group, result.ids);
  }
  for (const target of receivers) target.clear();

  await sleep(firstDueAt - TICK_LEAD_MS - Date.now());
  log(`firing the tick ${((firstDueAt - Date.now()) / 1000).toFixed(1)} s before the first due time`);
  const tick = fireTick(ctx.worker.scheduledUrl, Date.now(), TICK_WINDOW_MS + TICK_RESPONSE_SLACK_MS);
  for (const group of groups.filter((g) => g.measured)) {
    await group.receiver.waitForJobs(created.get(group) ?? [], firstDueAt + DELIVERY_TIMEOUT_MS);
  }
  const results = groups.map((group) => ({
    name: group.name,
    deliveries: summarizeDeliveries(
      created.get(group) ?? [],
      group.receiver.arrivals.filter((arrival) => (created.get(group) ?? []).includes(arrival.jobId)),
      firstDueAt,
    ),
  }));
  log("waiting for the tick to end its window");
  const tickOutcome = await tick;
  return {
    scenario: name,
    description,
    groups: results,
    tick: tickOutcome,
    connectionPeaks: await readConnectionPeaks(ctx.api.url),
  };
}

/** Prints a target scenario's lateness per group. */
export function printTargetResult(result: TargetResult): void {
  console.log(`\n[bench ${result.scenario}] ${result.description}; tick ${result.tick.outcome}`);
  for (const { name, deliveries: d } of result.groups) {
    const l = d.latenessMs;
    console.log(
      `  ${name.padEnd(20)} ${d.delivered}/${d.jobs} delivered, ${d.missing} missing, ${d.duplicates} duplicates; ` +
        (l
          ? `lateness ms p50 ${l.p50.toFixed(0)} / p90 ${l.p90.toFixed(0)} / p99 ${l.p99.toFixed(0)} / max ${l.max.toFixed(0)}; ` +
            `last delivery ${d.firstDueToLastDeliveryMs?.toFixed(0)} ms after the first due time`
          : "no arrivals"),
    );
  }
  console.log(`  most connections one invocation held at once: ${describePeaks(result.connectionPeaks)}`);
}
