/**
 * Which runtime the bench runs a Worker on: workerd alone (the default; as a deployed Worker
 * runs) or `wrangler dev` (as `npm start` runs Fliq, with wrangler's dev proxies around it).
 */
import { freePort, type RunningWorker, startWranglerDev } from "./stack";
import { startWorkerd } from "./workerd";

export const RUNTIMES = ["workerd", "wrangler-dev"] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** Starts the Worker in `root` on `runtime` with `vars`, its output going to `logFile`. */
export async function startWorker(
  runtime: Runtime,
  options: { root: string; vars: Record<string, string>; logFile: string; inspector: boolean },
): Promise<RunningWorker> {
  const { root, vars, logFile } = options;
  if (runtime === "wrangler-dev") {
    // wrangler dev always opens an inspector.
    return startWranglerDev({ root, vars, logFile, port: await freePort(), inspectorPort: await freePort() });
  }
  return startWorkerd({
    root,
    vars,
    logFile,
    port: await freePort(),
    triggerPort: await freePort(),
    inspectorPort: options.inspector ? await freePort() : undefined,
  });
}
