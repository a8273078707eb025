/**
 * Peak memory of everything that runs Fliq during a scenario: the Worker's process group
 * (workerd, and wrangler with its helpers under wrangler dev), the Postgres backends serving the
 * scratch database, and the bench's own process (API client, receiver, database bridge).
 */
import { readdir, readFile } from "node:fs/promises";

const SAMPLE_INTERVAL_MS = 200;
const MIB = 1024 * 1024;
const BACKEND_TITLE = /^postgres: (?:[^:\s]+: )?\S+ (\S+) /;

/** The highest total seen, with its parts at that moment, in MiB of resident memory (RSS). */
export interface MemoryPeak {
  totalMib: number;
  workerMib: number;
  postgresMib: number;
  benchMib: number;
  samples: number;
}

/**
 * Samples the resident memory of the Worker's process group, of the Postgres backends whose
 * process title names `database`, and of this process, until stopped. A backend's RSS counts
 * the shared buffers it has touched, so the Postgres part is an upper bound.
 */
export function sampleMemory(group: number, database: string): { stop(): Promise<MemoryPeak> } {
  let peak: MemoryPeak = { totalMib: 0, workerMib: 0, postgresMib: 0, benchMib: 0, samples: 0 };
  let samples = 0;
  let stopped = false;
  const sample = async () => {
    const { workerBytes, postgresBytes } = await processMemory(group, database);
    const benchBytes = process.memoryUsage.rss();
    const total = workerBytes + postgresBytes + benchBytes;
    samples++;
    if (total / MIB > peak.totalMib) {
      peak = {
        totalMib: total / MIB,
        workerMib: workerBytes / MIB,
        postgresMib: postgresBytes / MIB,
        benchMib: benchBytes / MIB,
        samples,
      };
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await sample();
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_INTERVAL_MS));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await sample();
      return { ...peak, samples };
    },
  };
}

/** Resident bytes of the Worker's process group and of the database's backends, from /proc. */
async function processMemory(group: number, database: string): Promise<{ workerBytes: number; postgresBytes: number }> {
  let workerBytes = 0;
  let postgresBytes = 0;
  for (const pid of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const inGroup = Number(fields[2]) === group; // field 5: process group
      // A backend's title: "postgres: [<cluster>: ]<user> <database> <client> <state>".
      const backend =
        !inGroup && stat.includes("(postgres)")
          ? BACKEND_TITLE.exec(await readFile(`/proc/${pid}/cmdline`, "utf8"))?.[1] === database
          : false;
      if (!inGroup && !backend) continue;
      const rssBytes = Number(fields[21]) * 4096; // field 24: rss, in pages
      if (inGroup) workerBytes += rssBytes;
      else postgresBytes += rssBytes;
    } catch {
      // exited meanwhile
    }
  }
  return { workerBytes, postgresBytes };
}
