/**
 * CPU time used while a scenario runs: by the Worker's process group (workerd does the Worker's
 * work), by the bench itself, and the machine's load, so the numbers can be read in context.
 */
import { readdir, readFile } from "node:fs/promises";
import { loadavg } from "node:os";

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU readings at one moment. */
export interface CpuReading {
  groupMs: number;
  benchMs: number;
}

/** What a stretch of time cost. */
export interface CpuUse {
  /** CPU ms used by the Worker's process group (workerd; and wrangler with esbuild, when it runs the Worker). */
  workerMs: number;
  /** CPU ms used by this process (receiver, bridge, API client). */
  benchMs: number;
  /** The 1-minute load average at the end: above 2 means the 2 cores were oversubscribed. */
  loadAverage: number;
}

/** Reads the CPU time used so far by process group `group` and by this process. */
export async function readCpu(group: number): Promise<CpuReading> {
  const usage = process.cpuUsage();
  return { groupMs: await groupCpuMs(group), benchMs: (usage.user + usage.system) / 1000 };
}

/** The CPU used between two readings. */
export function cpuSince(before: CpuReading, after: CpuReading): CpuUse {
  return {
    workerMs: after.groupMs - before.groupMs,
    benchMs: after.benchMs - before.benchMs,
    loadAverage: loadavg()[0],
  };
}

/** utime + stime of every live process in the group, from /proc (0 where /proc is unavailable). */
async function groupCpuMs(group: number): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return 0;
  }
  let ticks = 0;
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = await readFile(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the parenthesised command name (which may hold spaces): state is field 3.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) !== group) continue; // field 5: process group
    ticks += Number(fields[11]) + Number(fields[12]); // fields 14 and 15: utime, stime
  }
  return (ticks / CLOCK_TICKS_PER_SECOND) * 1000;
}
