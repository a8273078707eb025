/**
 * Prints the bench's numbers (per scenario as they finish, then one markdown table), checks them
 * against the targets, and writes everything as JSON.
 */

import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { CeilingResult } from "./ceiling";
import type { CpuUse } from "./cpu";
import { type CreateCeilingResult, ceilingSpread } from "./create-ceiling";
import type { CreateWaitingResult } from "./create-waiting";
import type { CreationScenarioResult, Spread } from "./creation";
import type { FlowResult } from "./flow";
import type { HandoverResult } from "./handover";
import type { NpmStartResult, NpmStartSoakResult } from "./npm-start";
import { CONNECTIONS_PER_INVOCATION, type ConnectionPeaks, describePeaks, highestPeak } from "./probe";
import type { RetentionResult } from "./retention";
import type { Runtime } from "./runtime";
import type { DeliveryResult, IdleResult } from "./scenarios";
import type { DeliveryStats } from "./stats";
import type { TargetResult } from "./targets";
import type { TopicResult } from "./topic";

/** One target and whether the measurement met it. */
export interface TargetCheck {
  target: string;
  measured: string;
  pass: boolean;
}

/** Everything one run measured. */
export interface BenchResults {
  deliveries: DeliveryResult[];
  /** Targets as the Internet has them (scripts/bench/targets.ts). */
  targetScenarios?: TargetResult[];
  creations: CreationScenarioResult[];
  ceiling?: CeilingResult;
  createCeiling?: CreateCeilingResult;
  idle?: IdleResult;
  handover?: HandoverResult;
  retention?: RetentionResult;
  createWaiting?: CreateWaitingResult;
  npmStart?: NpmStartResult;
  npmStartSoak?: NpmStartSoakResult;
  topic?: TopicResult;
  flow?: FlowResult;
}

const ms = (value: number | undefined) => (value === undefined ? "–" : value.toFixed(1));
const fixed = (value: number | null | undefined, digits: number) =>
  value === null || value === undefined ? "–" : value.toFixed(digits);

const cpuLine = (cpu: CpuUse) =>
  `Worker processes ${(cpu.workerMs / 1000).toFixed(1)} s, bench ${(cpu.benchMs / 1000).toFixed(1)} s, load ${cpu.loadAverage.toFixed(2)}`;

/** A few lines about a finished delivery scenario. */
export function printDeliveryResult(result: DeliveryResult): void {
  const d = result.deliveries;
  const l = d.latenessMs;
  const lines = [
    `── scenario ${result.scenario}: ${result.description}`,
    `   jobs ${d.jobs}, delivered ${d.delivered}, missing ${d.missing}, duplicates ${d.duplicates}` +
      ` (retries ${d.retries}, strays ${d.strays})`,
    `   lateness ms: p50 ${ms(l?.p50)}  p90 ${ms(l?.p90)}  p99 ${ms(l?.p99)}  max ${ms(l?.max)}  (min ${ms(l?.min)})`,
    `   callbacks/s ${fixed(d.callbacksPerSecond, 0)}; first due → last delivery ${fixed(
      d.firstDueToLastDeliveryMs === null ? null : d.firstDueToLastDeliveryMs / 1000,
      2,
    )} s`,
    `   SQL per job: delivery ${result.delivery.perJob.toFixed(2)} (${result.delivery.statements} statements),` +
      ` creation ${result.creation.perJob.toFixed(2)} (${result.creation.statements});` +
      ` connections opened: delivery ${result.delivery.connections}, creation ${result.creation.connections}`,
    `   creation ${result.creation.rate.toFixed(0)} jobs/s, ${result.creation.failures} failed;` +
      ` tick fired ${(result.tickLeadMs / 1000).toFixed(1)} s ahead, answered "${result.tick.outcome}"` +
      ` after ${(result.tick.durationMs / 1000).toFixed(1)} s`,
    `   CPU: creation ${cpuLine(result.creation.cpu)}; delivery (tick fired → tick done) ${cpuLine(result.delivery.cpu)}`,
    `   top delivery statements: ${result.delivery.top
      .slice(0, 6)
      .map((s) => `${s.calls}× ${fixed(s.totalMs, 0)} ms ${s.query.slice(0, 60)}`)
      .join(" | ")}`,
    `   Worker error lines: ${result.workerErrors.length}${
      result.workerErrors.length > 0 ? ` (first: ${result.workerErrors[0].slice(0, 200)})` : ""
    }; uncaught errors: ${result.uncaughtErrors.length}${
      result.uncaughtErrors.length > 0 ? ` (first: ${result.uncaughtErrors[0].slice(0, 200)})` : ""
    }`,
    `   most connections one invocation held at once: ${describePeaks(result.connectionPeaks)}`,
  ];
  const fault = result.fault;
  if (fault) {
    lines.push(`   fault: ${fault.what}`);
    if (fault.dueAfterStrike) lines.push(`   jobs due after it struck: ${deliveryLine(fault.dueAfterStrike)}`);
    if (fault.hit) lines.push(`   jobs it hit: ${deliveryLine(fault.hit)}`);
    if (fault.others) lines.push(`   the other jobs: ${deliveryLine(fault.others)}`);
  }
  console.log(lines.join("\n"));
}

/** A subset's deliveries in one line. */
function deliveryLine(d: DeliveryStats): string {
  const l = d.latenessMs;
  return (
    `${d.jobs} jobs, ${d.missing} missing, ${d.duplicates} duplicates; lateness ms ` +
    `p50 ${ms(l?.p50)} / p99 ${ms(l?.p99)} / max ${ms(l?.max)}`
  );
}

const spread = (value: Spread, digits: number) =>
  `${fixed(value.min, digits)} / ${fixed(value.median, digits)} / ${fixed(value.max, digits)}`;

/** A creation scenario's runs and spreads (min / median / max). */
export function printCreationResult(result: CreationScenarioResult): void {
  const s = result.spread;
  const lines = [
    `── scenario ${result.scenario}: ${result.description} (min / median / max of ${result.runs.length} runs)`,
    `   jobs/s ${spread(s.createsPerSecond, 0)}; request latency ms p50 ${spread(s.latencyP50Ms, 1)}, p99 ${spread(s.latencyP99Ms, 1)}`,
    `   SQL per job ${spread(s.statementsPerJob, 3)}${result.scenario === "create" ? " (creation + delivery)" : ""};` +
      ` Postgres sessions per request ${spread(s.connectionsPerRequest, 3)}, bridge logins per request ${spread(s.serverLoginsPerRequest, 3)}`,
    `   peak memory MiB (Worker + Postgres backends + bench) ${spread(s.peakMemoryMib, 0)}`,
  ];
  for (const [index, run] of result.runs.entries()) {
    const m = run.peakMemory;
    lines.push(
      `   run ${index + 1}: ${run.created} created, ${run.failures} failed${run.firstError ? ` (${run.firstError.slice(0, 120)})` : ""};` +
        ` creation ${run.creation.statements} statements${run.delivery ? `, delivery ${run.delivery.statements} (${run.delivery.delivered} delivered, ${run.delivery.missing} missing, ${run.delivery.duplicates} duplicates)` : ""};` +
        ` memory ${m.workerMib.toFixed(0)} + ${m.postgresMib.toFixed(0)} + ${m.benchMib.toFixed(0)} MiB`,
    );
  }
  lines.push(
    `   top creation statements: ${(result.runs[0]?.creation.top ?? [])
      .slice(0, 4)
      .map((t) => `${t.calls}× ${t.query.slice(0, 60)}`)
      .join(" | ")}`,
  );
  console.log(lines.join("\n"));
}

/** A few lines about the idle scenario. */
export function printIdleResult(result: IdleResult): void {
  console.log(
    [
      `── idle: ${result.ticks} tick(s), one per minute, for ${result.minutes} min`,
      `   ${result.statements} statements in ${result.seconds.toFixed(1)} s = ${result.statementsPerSecond.toFixed(3)}/s;` +
        ` ${result.connections} connections opened`,
      `   minutes with a database connection: ${result.minutesWithConnections} of ${result.minutes}` +
        ` (per minute: ${result.connectionsByMinute.join(", ")})`,
      `   the job created halfway: ${result.jobLatenessMs === null ? "never arrived" : `${result.jobLatenessMs.toFixed(1)} ms late`}`,
      `   statements: ${result.top.map((s) => `${s.calls}× ${s.query.slice(0, 60)}`).join(" | ")}`,
      `   ticks answered: ${result.tickOutcomes.map((t) => `"${t.outcome}" after ${(t.durationMs / 1000).toFixed(1)} s`).join(", ")}`,
      `   CPU: ${cpuLine(result.cpu)}`,
      `   Worker error lines: ${result.workerErrors.length}`,
    ].join("\n"),
  );
}

/** Single creates a second to reach: 4,000 on workerd alone, 1,500 the way users run Fliq locally. */
function singleCreateTarget(runtime: Runtime): number {
  return runtime === "workerd" ? 4_000 : 1_500;
}

/** The targets the measured scenarios can be held to. */
export function checkTargets(results: BenchResults, runtime: Runtime): TargetCheck[] {
  const checks: TargetCheck[] = [];
  if (results.topic) {
    const t = results.topic;
    const p99 = t.healthy.latenessMs?.p99;
    checks.push({
      target: "topic: healthy endpoints p99 lateness < 100 ms",
      measured: `${ms(p99)} ms`,
      pass: p99 !== undefined && p99 < 100,
    });
    checks.push({
      target: "topic: healthy endpoints zero missing, zero duplicates",
      measured: `${t.healthy.missing} missing, ${t.healthy.duplicates} duplicates`,
      pass: t.healthy.missing === 0 && t.healthy.duplicates === 0,
    });
    checks.push({
      target: "topic: the failing endpoint retried alone, no job past its retries",
      measured: `${t.failing.attempts} attempts, at most ${t.failing.maxAttemptsPerJob} per job`,
      pass: t.failing.attempts > 0 && t.failing.maxAttemptsPerJob <= t.failing.expectedAttempts / t.failing.jobs,
    });
    checks.push({
      target: "destination failing 20 times in a row: paused, its other jobs wait without spending retries",
      measured: `${t.failing.destinationState}; ${t.failing.neverAttempted} of ${t.failing.jobs} jobs never attempted`,
      pass: t.failing.destinationState === "paused" && t.failing.neverAttempted > 0,
    });
  }
  if (results.flow) checks.push(...flowChecks(results.flow));
  for (const r of results.deliveries) {
    const d = r.deliveries;
    checks.push({ target: `${r.scenario}: zero missing`, measured: String(d.missing), pass: d.missing === 0 });
    checks.push({ target: `${r.scenario}: zero duplicates`, measured: String(d.duplicates), pass: d.duplicates === 0 });
    const p99 = d.latenessMs?.p99;
    if (r.scenario === "a") {
      checks.push({
        target: "a: p99 lateness < 25 ms",
        measured: `${ms(p99)} ms`,
        pass: p99 !== undefined && p99 < 25,
      });
    }
    if (r.scenario === "b") {
      checks.push({
        target: "b: p99 lateness < 100 ms",
        measured: `${ms(p99)} ms`,
        pass: p99 !== undefined && p99 < 100,
      });
    }
    if (r.scenario === "c") {
      const span = d.firstDueToLastDeliveryMs;
      checks.push({
        target: "c: all delivered within 3.5 s of the first due time",
        measured: `${fixed(span === null ? null : span / 1000, 2)} s, ${d.missing} missing`,
        pass: d.missing === 0 && span !== null && span <= 3_500,
      });
    }
    if (!r.fault) {
      checks.push({
        target: `${r.scenario}: ≤ 1.2 SQL statements per job (delivery)`,
        measured: r.delivery.perJob.toFixed(3),
        pass: r.delivery.perJob <= 1.2,
      });
    }
    checks.push(...faultChecks(r));
    checks.push(connectionPeakCheck(r.scenario, r.connectionPeaks));
  }
  for (const r of results.targetScenarios ?? []) checks.push(connectionPeakCheck(r.scenario, r.connectionPeaks));
  for (const r of results.creations) {
    const s = r.spread;
    const missing = r.runs.reduce((sum, run) => sum + run.failures + (run.delivery?.missing ?? 0), 0);
    checks.push({
      target: `${r.scenario}: no failed creation or missing delivery`,
      measured: String(missing),
      pass: missing === 0,
    });
    if (r.scenario === "create") {
      checks.push(
        {
          target: `create: ≥ ${singleCreateTarget(runtime).toLocaleString("en")} jobs/s on ${runtime}, median`,
          measured: s.createsPerSecond.median.toFixed(0),
          pass: s.createsPerSecond.median >= singleCreateTarget(runtime),
        },
        {
          target: "create: POST /jobs p50 < 5 ms, p99 < 25 ms, median",
          measured: `${s.latencyP50Ms.median.toFixed(1)} / ${s.latencyP99Ms.median.toFixed(1)} ms`,
          pass: s.latencyP50Ms.median < 5 && s.latencyP99Ms.median < 25,
        },
        {
          target: "create: ≤ 1.5 SQL statements per created-and-delivered job, median",
          measured: s.statementsPerJob.median.toFixed(3),
          pass: s.statementsPerJob.median <= 1.5,
        },
        {
          target: "create: ≤ 0.1 database logins per POST /jobs, median",
          measured: s.connectionsPerRequest.median.toFixed(3),
          pass: s.connectionsPerRequest.median <= 0.1,
        },
      );
    } else {
      checks.push({
        target: "create-batch: ≥ 20,000 jobs/s, median",
        measured: s.createsPerSecond.median.toFixed(0),
        pass: s.createsPerSecond.median >= 20_000,
      });
    }
  }
  if (results.handover) {
    const { starts, worstLatenessMs } = results.handover;
    checks.push({
      target: `handover: no job more than 100 ms late in ${starts.length} fresh starts`,
      measured: `worst ${ms(worstLatenessMs)} ms`,
      pass: worstLatenessMs <= 100,
    });
  }
  if (results.retention) {
    const r = results.retention;
    checks.push(
      {
        target: "retention: keeps up with ≥ 10,000,000 finished jobs a day",
        measured: `${Math.round(r.jobsPerDayCapacity).toLocaleString("en")} a day (${Math.round(r.rowsPerSecond).toLocaleString("en")} rows/s)`,
        pass: r.jobsPerDayCapacity >= 10_000_000,
      },
      {
        target: "retention: no statement (so no row lock) over 1 s",
        measured: `longest ${ms(r.longestStatementMs)} ms`,
        pass: r.longestStatementMs <= 1_000,
      },
    );
  }
  if (results.createWaiting) {
    const c = results.createWaiting;
    checks.push({
      target: "create-waiting: POST /jobs p50 and p99 with 100,000 waiting within 10% of an empty project's",
      measured: `p50 ${ms(c.full.p50)} vs ${ms(c.empty.p50)} ms (×${c.ratioP50.toFixed(2)}), p99 ${ms(c.full.p99)} vs ${ms(c.empty.p99)} ms (×${c.ratioP99.toFixed(2)})`,
      pass: c.ratioP50 <= 1.1 && c.ratioP99 <= 1.1,
    });
  }
  if (results.npmStart) {
    const runs = results.npmStart.runs;
    const peaks = runs.map((run) => run.peakMib).sort((a, b) => a - b);
    const median = peaks[Math.floor(peaks.length / 2)];
    checks.push(
      {
        target: "npm-start: peak memory of npm start's processes ≤ 600 MB, median",
        measured: `${median.toFixed(0)} MiB (runs ${peaks.map((peak) => peak.toFixed(0)).join(", ")})`,
        pass: median * 1.048576 <= 600,
      },
      {
        target: "npm-start: every single create answered 201 and delivered",
        measured: runs.map((run) => `${run.delivered} delivered, ${JSON.stringify(run.statuses)}`).join("; "),
        pass: runs.every((run) => run.delivered === run.statuses["POST /jobs 201"] && !hasFailure(run.statuses)),
      },
    );
  }
  if (results.npmStartSoak) {
    const soak = results.npmStartSoak;
    const created = soak.statuses["POST /jobs 201"] ?? 0;
    checks.push(
      {
        target: "npm-start-soak: peak memory of npm start's processes ≤ 600 MB, under 32,000 creates in a row",
        measured: `${soak.peakMib.toFixed(0)} MiB (after the last round ${soak.rounds.at(-1)?.treeMib.toFixed(0)}, a minute idle ${soak.afterIdle.treeMib.toFixed(0)})`,
        pass: soak.peakMib * 1.048576 <= 600,
      },
      {
        target: "npm-start-soak: every single create answered 201 and delivered",
        measured: `${soak.delivered} delivered, ${JSON.stringify(soak.statuses)}`,
        pass: soak.delivered === created && !hasFailure(soak.statuses),
      },
    );
  }
  if (results.idle) {
    checks.push({
      target: "idle: < 0.2 SQL statements per second",
      measured: results.idle.statementsPerSecond.toFixed(3),
      pass: results.idle.statementsPerSecond < 0.2,
    });
    // An hour idle should see connections in at most 5 of its 60 minutes; scaled to the run's length.
    const allowed = Math.ceil((5 * results.idle.minutes) / 60);
    checks.push({
      target: `idle: database connections in at most ${allowed} of ${results.idle.minutes} minutes`,
      measured: String(results.idle.minutesWithConnections),
      pass: results.idle.minutesWithConnections <= allowed,
    });
    const late = results.idle.jobLatenessMs;
    checks.push({
      target: "idle: a job created meanwhile arrives < 100 ms late",
      measured: late === null ? "never" : `${ms(late)} ms`,
      pass: late !== null && late >= 0 && late < 100,
    });
  }
  return checks;
}

/** No invocation over production's six simultaneous connections. */
function connectionPeakCheck(scenario: string, peaks: ConnectionPeaks): TargetCheck {
  const highest = highestPeak(peaks);
  return {
    target: `${scenario}: ≤ ${CONNECTIONS_PER_INVOCATION} connections held at once by any one invocation, database included`,
    measured: highest
      ? `${highest.peak.connections} (${highest.kind}, ${highest.peak.database} database)`
      : "none seen",
    pass: highest !== undefined && highest.peak.connections <= CONNECTIONS_PER_INVOCATION,
  };
}

/** The targets of the scenarios with a fault (scripts/bench/faults.ts). */
function faultChecks(r: DeliveryResult): TargetCheck[] {
  const d = r.deliveries;
  const max = d.latenessMs?.max;
  switch (r.scenario) {
    case "far-db": {
      const p99 = d.latenessMs?.p99;
      return [
        { target: "far-db: p99 lateness < 50 ms", measured: `${ms(p99)} ms`, pass: p99 !== undefined && p99 < 50 },
      ];
    }
    case "cell-fails": {
      const hit = r.fault?.hit;
      const others = r.fault?.others;
      const hitMax = hit?.latenessMs?.max;
      const othersP99 = others?.latenessMs?.p99;
      return [
        {
          target: "cell-fails: a cell failed, and all its jobs arrived within 5 s of their due time",
          measured:
            hit && hit.jobs > 0 ? `${hit.jobs} jobs, ${hit.missing} missing, max ${ms(hitMax)} ms` : "no cell failed",
          pass: hit !== undefined && hit.jobs > 0 && hit.missing === 0 && hitMax !== undefined && hitMax < 5_000,
        },
        {
          target: "cell-fails: every other job on time (p99 < 100 ms, as b)",
          measured: others
            ? `p99 ${ms(othersP99)} ms, max ${ms(others.latenessMs?.max)} ms, ${others.missing} missing`
            : "–",
          pass: others !== undefined && others.missing === 0 && othersP99 !== undefined && othersP99 < 100,
        },
      ];
    }
    case "tick-cut":
      return [
        {
          target: "tick-cut: no job more than 10 s late",
          measured: `max ${ms(max)} ms; ${r.fault?.what ?? "no cut"}`,
          pass: d.missing === 0 && max !== undefined && max <= 10_000,
        },
      ];
    case "db-restart":
      return [
        {
          target: "db-restart: max lateness < 15 s",
          measured: `${ms(max)} ms`,
          pass: d.missing === 0 && max !== undefined && max < 15_000,
        },
        {
          target: "db-restart: no uncaught error in the Worker's output",
          measured: String(r.uncaughtErrors.length),
          pass: r.uncaughtErrors.length === 0,
        },
      ];
    default:
      return [];
  }
}

/** A few lines about the retention scenario. */
export function printRetentionResult(r: RetentionResult): void {
  const w = r.writer.latencyMs;
  console.log(
    [
      `── retention: ${r.rows.toLocaleString("en")} rows of old history (built in ${r.buildSeconds.toFixed(0)} s)`,
      `   deleted ${r.prunedJobs.toLocaleString("en")} jobs + ${r.prunedAttempts.toLocaleString("en")} attempts in ${r.pruneSeconds.toFixed(1)} s of retention: ${Math.round(r.rowsPerSecond).toLocaleString("en")} rows/s`,
      `   ${r.calls} ticks, ${r.statements} statements; a tick with a backlog deletes ${r.rowsPerTick.toLocaleString("en")} rows: ${Math.round(r.jobsPerDayCapacity).toLocaleString("en")} jobs a day`,
      `   statements: mean ${ms(r.meanStatementMs)} ms; each tick's longest p50 ${ms(r.longestStatementPerTickMs.p50)} / p90 ${ms(r.longestStatementPerTickMs.p90)} / max ${ms(r.longestStatementMs)} ms; longest tick's retention ${ms(r.longestCallMs)} ms`,
      `   a writer beside it: ${r.writer.statements} statements, p50 ${ms(w?.p50)} / p99 ${ms(w?.p99)} / max ${ms(w?.max)} ms`,
      `   kept: ${JSON.stringify(r.kept)}`,
    ].join("\n"),
  );
}

const hasFailure = (statuses: Record<string, number>) => Object.keys(statuses).some((key) => !key.endsWith(" 201"));

export function printNpmStartResult(result: NpmStartResult): void {
  console.log("── scenario npm-start: npm start's processes under 580 single creates and 10 batches of 1,000");
  for (const [index, run] of result.runs.entries()) {
    console.log(
      `   run ${index + 1}: idle ${run.idleMib.toFixed(0)} MiB, peak ${run.peakMib.toFixed(0)} MiB; ` +
        `${run.createsPerSecond.toFixed(0)} creates/s; ${run.delivered} delivered; ${JSON.stringify(run.statuses)}`,
    );
    const parts = Object.entries(run.peakParts).sort(([, a], [, b]) => b - a);
    console.log(`          at the peak: ${parts.map(([name, mib]) => `${name} ${mib.toFixed(0)}`).join(", ")} MiB`);
  }
}

export function printNpmStartSoakResult(result: NpmStartSoakResult): void {
  console.log("── scenario npm-start-soak: one npm start under rounds of 2,000 single creates, memory after each");
  console.log(`   idle ${result.idleMib.toFixed(0)} MiB; by round, workerd / all MiB (creates/s):`);
  const rounds = result.rounds.map(
    (round, index) =>
      `${index + 1}: ${round.workerdMib.toFixed(0)} / ${round.treeMib.toFixed(0)} (${round.createsPerSecond.toFixed(0)})`,
  );
  for (let first = 0; first < rounds.length; first += 4) console.log(`   ${rounds.slice(first, first + 4).join(", ")}`);
  console.log(
    `   a minute idle after: workerd ${result.afterIdle.workerdMib.toFixed(0)}, all ${result.afterIdle.treeMib.toFixed(0)} MiB; ` +
      `peak ${result.peakMib.toFixed(0)} MiB; ${result.delivered} delivered; ${JSON.stringify(result.statuses)}`,
  );
  const parts = Object.entries(result.peakParts).sort(([, a], [, b]) => b - a);
  console.log(`   at the peak: ${parts.map(([name, mib]) => `${name} ${mib.toFixed(0)}`).join(", ")} MiB`);
}

/** A few lines about the create-waiting scenario. */
export function printCreateWaitingResult(c: CreateWaitingResult): void {
  const line = (name: string, p: CreateWaitingResult["empty"]) =>
    `   ${name}: p50 ${ms(p.p50)} / p90 ${ms(p.p90)} / p99 ${ms(p.p99)} / max ${ms(p.max)} ms`;
  console.log(
    [
      `── create-waiting: ${c.requestsPerProject} POST /jobs per project, one at a time`,
      line("empty project        ", c.empty),
      line(`${c.waiting.toLocaleString("en")} jobs waiting`, c.full),
      `   full / empty: p50 ×${c.ratioP50.toFixed(2)}, p99 ×${c.ratioP99.toFixed(2)}`,
    ].join("\n"),
  );
}

/** The creation ceiling: each shape and layer's spread over its rounds. */
export function printCreateCeilingResult(result: CreateCeilingResult): void {
  const lines = [`── create-ceiling: bare creates on ${result.runtime}, no Fliq (min / median / max of rounds)`];
  const names = { postgres: "PostgreSQL alone    ", bridge: "through the bridge  ", worker: "through a bare Worker" };
  for (const shape of result.shapes) {
    lines.push(`   ${shape.name}: ${shape.batchSize} a request, ${shape.inFlight} in flight`);
    for (const layer of ["postgres", "bridge", "worker"] as const) {
      const { min, median, max } = ceilingSpread(result, shape.name, layer);
      const p50 = result.rounds
        .filter((r) => r.shape === shape.name && r.layer === layer)
        .map((r) => r.latencyMs.p50.toFixed(1));
      lines.push(
        `     ${names[layer]} ${min.toFixed(0)} / ${median.toFixed(0)} / ${max.toFixed(0)} jobs/s; ` +
          `p50 a request ${p50.join(", ")} ms`,
      );
    }
  }
  console.log(lines.join("\n"));
}

/** The ceiling's rounds, one line each. */
export function printCeilingResult(result: CeilingResult): void {
  const lines = [
    `── ceiling: bare callbacks on ${result.runtime}, no Fliq (median ${result.medianCallbacksPerSecond.toFixed(0)}/s)`,
  ];
  for (const r of result.rounds) {
    lines.push(
      `   ${r.invocations} invocations × ${r.lanesPerInvocation} in flight: ${r.callbacks} callbacks` +
        ` (${r.failed} failed) in ${(r.ms / 1000).toFixed(2)} s = ${r.callbacksPerSecond.toFixed(0)}/s`,
    );
  }
  console.log(lines.join("\n"));
}

/** The final markdown: every number in one table, then the targets. */
export function markdownReport(results: BenchResults, checks: readonly TargetCheck[]): string {
  const header = [
    "scenario",
    "jobs",
    "delivered",
    "missing",
    "duplicates",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "callbacks/s",
    "first due → last delivery",
    "SQL/job delivery",
    "SQL/job creation",
    "SQL/s idle",
    "connections / invocation",
  ];
  const rows = results.deliveries.map((r) => {
    const d = r.deliveries;
    const span = d.firstDueToLastDeliveryMs;
    return [
      `${r.scenario}: ${r.description}`,
      String(d.jobs),
      String(d.delivered),
      String(d.missing),
      String(d.duplicates),
      ms(d.latenessMs?.p50),
      ms(d.latenessMs?.p90),
      ms(d.latenessMs?.p99),
      ms(d.latenessMs?.max),
      fixed(d.callbacksPerSecond, 0),
      span === null ? "–" : `${(span / 1000).toFixed(2)} s`,
      r.delivery.perJob.toFixed(3),
      r.creation.perJob.toFixed(3),
      "–",
      String(highestPeak(r.connectionPeaks)?.peak.connections ?? "–"),
    ];
  });
  if (results.idle) {
    const idle = results.idle;
    rows.push([
      `idle: ${idle.ticks} tick(s), ${idle.minutes} min`,
      ...Array<string>(12).fill("–"),
      `${idle.statementsPerSecond.toFixed(3)} (${idle.statements} in ${idle.seconds.toFixed(0)} s)`,
      "–",
    ]);
  }
  const table = (cells: string[][]) => cells.map((row) => `| ${row.join(" | ")} |`).join("\n");
  const separator = (count: number) => Array<string>(count).fill("---");
  const ceiling = results.ceiling
    ? [
        "",
        `Ceiling (bare callbacks on ${results.ceiling.runtime}, no Fliq): ${results.ceiling.rounds
          .map((r) => `${r.callbacksPerSecond.toFixed(0)}/s`)
          .join(", ")}; median ${results.ceiling.medianCallbacksPerSecond.toFixed(0)}/s.`,
      ]
    : [];
  const creationHeader = [
    "creation (min / median / max of runs)",
    "jobs/s",
    "latency p50 ms",
    "latency p99 ms",
    "SQL/job",
    "sessions/request",
    "peak MiB",
  ];
  const creations =
    results.creations.length > 0
      ? [
          "",
          table([
            creationHeader,
            separator(creationHeader.length),
            ...results.creations.map((r) => [
              `${r.scenario}: ${r.description}`,
              spread(r.spread.createsPerSecond, 0),
              spread(r.spread.latencyP50Ms, 1),
              spread(r.spread.latencyP99Ms, 1),
              spread(r.spread.statementsPerJob, 3),
              spread(r.spread.connectionsPerRequest, 3),
              spread(r.spread.peakMemoryMib, 0),
            ]),
          ]),
        ]
      : [];
  return [
    ...(rows.length > 0 ? [table([header, separator(header.length), ...rows])] : []),
    ...creations,
    ...ceiling,
    "",
    table([
      ["target", "measured", "result"],
      separator(3),
      ...checks.map((c) => [c.target, c.measured, c.pass ? "PASS" : "MISS"]),
    ]),
  ].join("\n");
}

/** Writes the results as JSON (creating the folder). */
export async function writeResultsJson(file: string, content: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(content, null, 2)}\n`);
}

/** Issue 19's table for flow control, as the flow scenario measured it. */
function flowChecks(flow: FlowResult): TargetCheck[] {
  const { rate, parallel, keys, ordered } = flow;
  const lost = (outcome: FlowResult["rate"]) => `${outcome.missing} missing, ${outcome.duplicates} duplicates`;
  return [
    {
      target: "flow rate 50/s, 1,000 jobs due at once: no 1 s span over 50",
      measured: `at most ${rate.mostPerSecond} in 1 s`,
      pass: rate.mostPerSecond <= 50,
    },
    {
      target: "flow rate 50/s: all 1,000 delivered in about 20 s (≤ 25 s)",
      measured: `${rate.delivered} in ${(rate.spanMs / 1000).toFixed(1)} s; ${lost(rate)}`,
      pass: rate.missing === 0 && rate.duplicates === 0 && rate.spanMs <= 25_000,
    },
    {
      target: "flow parallelism 3, 300 jobs at a 200 ms target: never more than 3 in flight, none lost",
      measured: `peak ${parallel.peakInFlight} in flight; ${lost(parallel)}`,
      pass: parallel.peakInFlight <= 3 && parallel.missing === 0 && parallel.duplicates === 0,
    },
    {
      target: "flow two keys and keyless jobs: each key held to its limits",
      measured: `parallelism 2: peak ${keys.parallelKey.peakInFlight}; 20/s: at most ${keys.rateKey.mostPerSecond} in 1 s`,
      pass: keys.parallelKey.peakInFlight <= 2 && keys.rateKey.mostPerSecond <= 20,
    },
    {
      target: "flow keyless jobs beside keyed ones: p99 lateness < 100 ms",
      measured: `${ms(keys.keyless.latenessMs?.p99)} ms; ${lost(keys.keyless)}`,
      pass: (keys.keyless.latenessMs?.p99 ?? Number.POSITIVE_INFINITY) < 100 && keys.keyless.missing === 0,
    },
    {
      target: "flow ordered key, 100 jobs: received strictly in order",
      measured: `${ordered.outOfOrder} out of order; ${lost(ordered)}`,
      pass: ordered.outOfOrder === 0 && ordered.missing === 0,
    },
  ];
}
