/**
 * `fliq/client`: the typed API client. No runtime dependencies beyond `fetch`.
 *
 *   const fliq = createFliqClient({ baseUrl: env.FLIQ_URL, token: env.FLIQ_API_TOKEN });
 *   await fliq.createJob({ url: "https://my-worker.example.workers.dev/api/send-welcome", delay: "1h", json: { email } });
 */
export { FliqError, type FliqErrorDetail } from "./errors";
export {
  type CreateJobOptions,
  createFliqClient,
  FliqClient,
  type FliqClientOptions,
  type IfMatchOptions,
} from "./fliq-client";
export type { RetryOptions } from "./retry-policy";
export type * from "./types";
