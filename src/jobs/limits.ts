/** The limits every job request is held to; the API schemas and docs/api.md quote these. */
export const JOB_LIMITS = {
  urlMaxLength: 2048,
  bodyMaxBytes: 1024 * 1024,
  headerCountMax: 50,
  headerValueMaxLength: 8192,
  maxRetriesMax: 20,
  maxRetriesDefault: 3,
  timeoutMsMin: 1_000,
  timeoutMsMax: 120_000,
  timeoutMsDefault: 15_000,
  backoffInitialMsMin: 1_000,
  backoffInitialMsDefault: 10_000,
  backoffMaxMsDefault: 3_600_000,
  backoffMaxMsMax: 7 * 24 * 3_600_000,
  labelCountMax: 20,
  labelKeyMaxLength: 64,
  labelValueMaxLength: 256,
  idempotencyKeyMaxLength: 255,
  batchSizeMax: 1000,
  listLimitDefault: 50,
  listLimitMax: 200,
  /**
   * How much of a successful response's body a success notification carries. Up to 5 responses
   * this size are read at once, and a batch of results holds up to 200 (13 MB of a 128 MB isolate).
   */
  successBodyMaxBytes: 64 * 1024,
  /** How far ahead a job may be scheduled. */
  scheduleHorizonMs: 366 * 24 * 60 * 60_000,
  topicNameMaxLength: 64,
  /** Endpoints of one topic: a publish is one job per endpoint, created in one statement. */
  topicEndpointsMax: 100,
  /** Topics of one project (the list is one page). */
  topicsPerProjectMax: 1000,
} as const;

export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** Methods whose requests carry no body (fetch refuses one). */
export const BODYLESS_METHODS: readonly HttpMethod[] = ["GET", "HEAD"];

/** Header names Fliq sets on every callback; a job may not carry its own. */
export const RESERVED_HEADER_PREFIXES = ["webhook-", "fliq-"] as const;
