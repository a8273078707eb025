/**
 * The callback target: answers every request 200 at once and records when it arrived and which
 * job and attempt it was. It does as little as possible per request: it shares the 2 cores with
 * workerd and Postgres, and its own delay would count as Fliq's lateness.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** One callback as the receiver saw it. */
export interface Arrival {
  /** Wall-clock arrival time in ms (performance.timeOrigin + performance.now(): sub-millisecond). */
  at: number;
  jobId: string;
  attempt: number;
  /** The `fliq-scheduled-at` header, in ms since the epoch (NaN when missing). */
  scheduledAt: number;
}

/** The running receiver and what it has recorded. */
export interface RecordingReceiver {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Arrivals since the last `clear()`, in arrival order. */
  arrivals: Arrival[];
  /** The most requests it was answering at once since the last `clear()`. */
  peakInFlight: number;
  /** Forgets every arrival (start of a scenario). */
  clear(): void;
  /** Resolves true once every id in `jobIds` has arrived at least once, or false at `deadline` (epoch ms). */
  waitForJobs(jobIds: Iterable<string>, deadline: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Starts the receiver on a random loopback port. `answerAfterMs` makes it a slow target (the
 * arrival is still recorded when the request comes in); "never" makes it one that hangs until
 * the caller gives up.
 */
export async function startRecordingReceiver(
  options: { answerAfterMs?: number | "never" } = {},
): Promise<RecordingReceiver> {
  let arrivals: Arrival[] = [];
  let inFlight = 0;
  let peakInFlight = 0;
  let waiting: { pending: Set<string>; done: (all: boolean) => void } | undefined;

  const server = createServer((req, res) => {
    const at = performance.timeOrigin + performance.now();
    const jobId = header(req.headers["fliq-job-id"]);
    arrivals.push({
      at,
      jobId,
      attempt: Number(header(req.headers["fliq-attempt"])),
      scheduledAt: Date.parse(header(req.headers["fliq-scheduled-at"])),
    });
    inFlight++;
    peakInFlight = Math.max(peakInFlight, inFlight);
    res.on("close", () => inFlight--);
    // The body is not needed; draining it keeps the keep-alive connection reusable.
    req.resume();
    const answer = () => {
      res.writeHead(200, { "content-length": "0" });
      res.end();
    };
    const { answerAfterMs = 0 } = options;
    if (answerAfterMs === 0) answer();
    else if (answerAfterMs !== "never") setTimeout(answer, answerAfterMs);
    if (waiting?.pending.delete(jobId) && waiting.pending.size === 0) waiting.done(true);
  });
  // workerd reuses its connections between bursts; the default 5 s would close them mid-scenario.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get arrivals() {
      return arrivals;
    },
    get peakInFlight() {
      return peakInFlight;
    },
    clear() {
      arrivals = [];
      peakInFlight = inFlight;
    },
    waitForJobs(jobIds, deadline) {
      const pending = new Set(jobIds);
      for (const arrival of arrivals) pending.delete(arrival.jobId);
      if (pending.size === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => done(false), Math.max(0, deadline - Date.now()));
        const done = (all: boolean) => {
          clearTimeout(timer);
          waiting = undefined;
          resolve(all);
        };
        waiting = { pending, done };
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function header(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value[0] : value) ?? "";
}
