/**
 * Runs a Worker on the workerd binary alone (scripts/local/workerd.ts): the bundle `wrangler deploy`
 * uploads, its wrangler.toml's compatibility date, flags and vars, Durable Objects in memory, and the
 * cron trigger at `/cdn-cgi/handler/scheduled` on a port of its own. `bare`, as Cloudflare runs a
 * deployed one and nothing else (the `workerd` runtime); otherwise as `npm start` runs it, with its
 * local rate limits, static assets and V8 settings (the `npm-start` runtime).
 *
 * Why not `wrangler dev`: it routes every outgoing fetch through an interceptor Worker of its
 * own (miniflare's `outbound:N` service, which re-issues the request) and keeps a DevTools
 * session attached. Both are dev conveniences production does not have, and on this machine
 * they cap a Worker at about 2,500 signed callbacks a second where workerd alone makes 7,000 to
 * 10,000 (the ceiling scenario measures both; docs/benchmark.md).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { prepareWorkerd } from "../local/workerd";
import { type RunningWorker, startProcessGroup } from "./stack";

/** npm start's build step, from the bench's own tree whatever the Worker's source. */
const BUILD_SCRIPT = fileURLToPath(new URL("../local/build-worker.ts", import.meta.url));

/** Bundles the Worker in `root` and serves it on workerd at `port`, the trigger at `triggerPort`. */
export async function startWorkerd(options: {
  root: string;
  port: number;
  triggerPort: number;
  bare: boolean;
  /** Opens DevTools' inspector here (for --profile only: an attached session costs CPU). */
  inspectorPort?: number;
  vars: Record<string, string>;
  logFile: string;
}): Promise<RunningWorker> {
  const buildDir = await mkdtemp(join(tmpdir(), "fliq-bench-workerd-"));
  const removeBuild = () => rm(buildDir, { recursive: true, force: true });
  try {
    // On the project's Node 22 (the bench runs on it): build-worker.ts is run by Node's type stripping.
    await promisify(execFile)(process.execPath, [BUILD_SCRIPT, options.root, buildDir], { cwd: options.root });
    const { command, args } = prepareWorkerd({
      buildDir,
      port: options.port,
      triggerPort: options.triggerPort,
      extraVars: options.vars,
      bare: options.bare,
    });
    // --verbose: workerd reports an exception thrown outside any handler's promise (in an event
    // listener, say a database WebSocket's) only as an informational line, which it otherwise drops.
    args.push("--verbose");
    if (options.inspectorPort !== undefined) args.push(`--inspector-addr=127.0.0.1:${options.inspectorPort}`);
    const worker = await startProcessGroup({
      name: "workerd",
      command,
      args,
      cwd: options.root,
      url: `http://127.0.0.1:${options.port}`,
      scheduledUrl: `http://127.0.0.1:${options.triggerPort}/cdn-cgi/handler/scheduled`,
      inspectorPort: options.inspectorPort,
      // workerd lists each service as a target by its name.
      inspectorTarget: "worker",
      logFile: options.logFile,
    });
    return {
      ...worker,
      async stop() {
        await worker.stop();
        await removeBuild();
      },
    };
  } catch (error) {
    await removeBuild();
    throw error;
  }
}
