/**
 * Which runtime the bench runs a Worker on: workerd alone (the default; as a deployed Worker
 * runs), `npm-start` (the Worker as `npm start` runs it: the same bundle on workerd, with its local
 * rate limits and static assets) or `wrangler dev` (with wrangler's dev proxies around it).
 */
import { freePort, type RunningWorker, startWranglerDev } from "./stack";
import { startWorkerd } from "./workerd";

export const RUNTIMES = ["workerd", "npm-start", "wrangler-dev"] as const;
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
    bare: runtime === "workerd",
    inspectorPort: options.inspector ? await freePort() : undefined,
  });
}
