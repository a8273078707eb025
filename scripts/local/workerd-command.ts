import { createRequire } from "node:module";

/**
 * How to run workerd alone on a configuration `worker.ts --workerd-config` wrote: serving on `port`, with
 * Miniflare's loopback service pointed at a port nothing listens on (see scripts/local/worker.ts).
 */
export function workerdCommand(configFile: string, port: number): { command: string; args: string[] } {
  return {
    command: (createRequire(import.meta.url)("workerd") as { default: string }).default,
    args: [
      "serve",
      "--binary",
      // Compatibility flags without a default-on date, as Miniflare runs workerd.
      "--experimental",
      `--socket-addr=entry=127.0.0.1:${port}`,
      "--external-addr=loopback=127.0.0.1:1",
      configFile,
    ],
  };
}
