/**
 * `@fliq/client`: the typed API client. No runtime dependencies beyond `fetch`.
 *
 *   const fliq = createFliqClient({ baseUrl: env.FLIQ_URL, token: env.FLIQ_API_TOKEN });
 *   await fliq.createJob({ url: "https://my-worker.example.workers.dev/api/send-welcome", delay: "1h", json: { email } });
 */
export { FliqError, type FliqErrorDetail } from "./errors.js";
export {
  type CreateJobOptions,
  createFliqClient,
  FliqClient,
  type FliqClientOptions,
  type IfMatchOptions,
} from "./fliq-client.js";
// Receiving too, so one import serves a Worker that both schedules and receives callbacks.
export * from "./receive.js";
export type { RetryOptions } from "./retry-policy.js";
export type * from "./types.js";
