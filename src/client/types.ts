/**
 * The wire format as the client sees it, written out by hand so the package stands alone (no
 * zod, no server code). test/client-wire-types.test.ts checks at compile time that these types
 * and the API's zod schemas describe the same JSON, so a field added or changed on either side
 * fails the typecheck until the other follows.
 */

/**
 * Where a job is in its life: scheduled → running → succeeded | scheduled (retry) | failed;
 * scheduled → canceled; scheduled or running → expired (its turn, or its retry's, came after expires_at).
 */
export type JobStatus = "scheduled" | "running" | "succeeded" | "failed" | "canceled" | "expired";

/** The HTTP methods a callback may use. */
export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";

/** What one attempt meant for its job; `unknown`: the attempt's result was never recorded (it may have arrived). */
export type AttemptOutcome = "succeeded" | "retry" | "failed" | "unknown";

/** How a retry backs off: retry n waits between half and all of initial × 2^(n-1), at most max. */
export interface RetryBackoff {
  initial_delay_ms: number;
  max_delay_ms: number;
}

/**
 * A job as the API answers it. Its `headers` show every value as "[redacted]" except the
 * allowlisted harmless ones (Content-Type, Accept, …; see the README's Security section).
 * Times are ISO 8601 strings.
 */
export interface Job {
  id: string;
  status: JobStatus;
  url: string;
  http_method: HttpMethod;
  headers: Record<string, string>;
  body: string | null;
  scheduled_at: string;
  /** When the next attempt is due. */
  run_at: string;
  max_retries: number;
  timeout_ms: number;
  retry_backoff: RetryBackoff;
  labels: Record<string, string>;
  failure_url: string | null;
  /** Told the response (status, headers, body up to 64 KiB) of an attempt that succeeds. */
  success_url: string | null;
  /** No attempt starts after this instant; a job whose turn comes later ends `expired`. */
  expires_at: string | null;
  /** Seconds after the first attempt past which no retry starts (the job then fails). */
  max_retry_duration: number | null;
  /** Stable across the retries of one run: the receiver's dedupe key. */
  webhook_id: string;
  attempt: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  /** The recurring schedule this job is a run of; null for a one-off job. */
  schedule_id: string | null;
  /** The topic this job was published to; null for a job created on its own. */
  topic: string | null;
  /** Shared by the deliveries of one message published to a topic (one job per endpoint). */
  message_id: string | null;
  /** The flow key the job is delivered under; null without one. */
  flow_key: string | null;
}

/** One callback attempt as the API answers it. */
export interface Attempt {
  attempt: number;
  outcome: AttemptOutcome;
  planned_at: string;
  fired_at: string;
  lateness_ms: number;
  duration_ms: number;
  status_code: number | null;
  response_excerpt: string | null;
  /** Why it failed: `http_error`, `timeout`, `connection_refused`, `dns_failure`, `tls_failure`, … (null on success). */
  error_class: string | null;
  error_message: string | null;
}

/** The request a job (or each run of a schedule) makes, and how it is retried; every field but `url` has a default. */
interface CallbackRequestInput {
  /** An absolute http(s) URL, or service://<name>/<path> for a Worker bound to Fliq. */
  url: string;
  /** POST by default; any case. */
  http_method?: HttpMethod | Lowercase<HttpMethod>;
  headers?: Record<string, string>;
  /** The body as text; see also `json`. */
  body?: string | null;
  labels?: Record<string, string>;
  /** Told when the job fails for good (or expires). */
  failure_url?: string | null;
  /** Retries after the first attempt (3 by default). */
  max_retries?: number;
  /** How long one attempt may take (30 s by default). */
  timeout_ms?: number;
  retry_backoff?: Partial<RetryBackoff>;
}

/** A duration: seconds as a number, or text such as "30s", "15m", "1h30m", "2d". */
export type Duration = number | string;

/** The API's `POST /jobs` body. When: `scheduled_at`, or `delay` from now, or now when both are absent. */
export interface CreateJobRequest extends CallbackRequestInput, JobOnlyFields {
  scheduled_at?: string;
  delay?: Duration;
  /** Flow control: the key the job is delivered under, and the key's limits if it is new. */
  flow?: JobFlow | null;
}

/** What an ordered key does when its head fails for good: pause (`wait`) or go on with the next (`skip`). */
export type HeadFailurePolicy = "wait" | "skip";

/**
 * A job's flow key. Jobs naming the same key share its limits across every invocation. A key is
 * created with the limits of the first job that names it; an existing key keeps its own (change
 * them with `updateFlowKey`).
 */
export interface JobFlow {
  key: string;
  /** At most `limit` callbacks per `period` (a Duration; one second by default). */
  rate?: { limit: number; period?: Duration };
  /** At most this many callbacks of the key in flight at once. */
  parallelism?: number;
  /** One at a time, in the order of due time, then creation. */
  ordered?: boolean;
  on_head_failure?: HeadFailurePolicy;
}

/** A flow key as the API answers it: its limits, state and backlog. */
export interface FlowKey {
  key: string;
  rate: { limit: number; period_ms: number } | null;
  parallelism: number | null;
  ordered: boolean;
  on_head_failure: HeadFailurePolicy;
  paused: boolean;
  /** `manual`, or `head_failed` when an ordered key's head failed for good (on_head_failure `wait`). */
  paused_reason: "manual" | "head_failed" | null;
  /** Attempts of the key running now. */
  in_flight: number;
  /** Jobs of the key waiting to be delivered. */
  waiting: number;
  /** Of those, jobs already past their time. */
  held: number;
  oldest_due_at: string | null;
  created_at: string;
  updated_at: string;
}

/** A page of flow keys by name; pass `next_after` as `after` for the next (null after the last). */
export interface FlowKeyPage {
  flow_keys: FlowKey[];
  next_after: string | null;
}

/** `PATCH /flow-keys/:key`: what is left out keeps its value; null removes a limit. */
export interface UpdateFlowKeyRequest {
  rate?: { limit: number; period?: Duration } | null;
  parallelism?: number | null;
  ordered?: boolean;
  on_head_failure?: HeadFailurePolicy;
}

/** What a job may carry that a schedule's runs do not (see Job); null removes one. */
interface JobOnlyFields {
  success_url?: string | null;
  /** An instant in the future, after scheduled_at. */
  expires_at?: string | null;
  max_retry_duration?: Duration | null;
}

/** The API's `PATCH /jobs/:id` body: what is left out keeps its stored value. */
export interface UpdateJobRequest extends Partial<Omit<CallbackRequestInput, "retry_backoff">>, JobOnlyFields {
  scheduled_at?: string;
  retry_backoff?: Partial<RetryBackoff>;
}

/** Fields the client accepts as a `Date` as well as an ISO 8601 string. */
type WithDates<T, K extends keyof T> = Omit<T, K> & { [P in K]?: Exclude<T[P], undefined> | Date };

/**
 * `createJob`'s request: the API's `POST /jobs` body, with `scheduled_at` and `expires_at` also as
 * Dates, and `json` as a shortcut for a JSON body (it sets `body` and, unless given, `Content-Type`).
 */
export type CreateJobInput = WithDates<CreateJobRequest, "scheduled_at" | "expires_at"> & { json?: unknown };

/** `updateJob`'s changes: the API's `PATCH /jobs/:id` body, with dates as Dates and `json` as a body (headers untouched). */
export type UpdateJobInput = WithDates<UpdateJobRequest, "scheduled_at" | "expires_at"> & { json?: unknown };

/** A job with the version it was read at, for `updateJob(id, changes, { ifMatch: job.etag })`. */
export type VersionedJob = Job & { etag: string | null };

/** `getJob`'s answer: the job, its attempts so far, and its version. */
export type JobWithAttempts = VersionedJob & { attempts: Attempt[] };

/** The order of a job listing: newest created first, or soonest due first. */
export type ListOrder = "newest" | "soonest";

/** Filters and order of `listJobs`; every page after the first follows the server's cursor. */
export interface ListJobsOptions {
  status?: JobStatus | JobStatus[];
  /** Jobs carrying every one of these labels. */
  labels?: Record<string, string>;
  url_prefix?: string;
  scheduled_after?: string | Date;
  scheduled_before?: string | Date;
  /** Runs of this schedule only. */
  schedule_id?: string;
  /** Jobs published to this topic only. */
  topic?: string;
  /** The deliveries of this published message only. */
  message_id?: string;
  order?: ListOrder;
  /** Page size (1 to 200, 50 by default). */
  limit?: number;
  /** Start from a cursor another listing returned. */
  cursor?: string;
}

/** One page of `listJobs`. */
export interface JobPage {
  jobs: Job[];
  next_cursor: string | null;
}

/** One page of `listAttempts`. */
export interface AttemptPage {
  attempts: Attempt[];
  next_after: number | null;
}

/** The API's bulk filter: jobs matching every criterion given (at least one). */
export interface BulkFilter {
  status?: JobStatus[];
  labels?: Record<string, string>;
  url_prefix?: string;
  scheduled_after?: string;
  scheduled_before?: string;
}

/** Which jobs a bulk cancel or replay takes: listed ids, or every job matching a filter. */
export type BulkSelection =
  | { ids: string[] }
  | { filter: WithDates<BulkFilter, "scheduled_after" | "scheduled_before"> };

/** What a bulk action changed; when `has_more`, repeat it for the rest. */
export interface BulkResult {
  count: number;
  ids: string[];
  has_more: boolean;
}

/** What a bulk cancel did: `ids` canceled, `running_ids` left as they were because their attempt had started. */
export interface BulkCancelResult extends BulkResult {
  running_ids: string[];
}

/** Whether a schedule makes runs. */
export type ScheduleStatus = "active" | "paused";
/** What happens to occurrences missed while paused or down: skipped, or the latest one run. */
export type MissedPolicy = "skip" | "run_latest";
/** Whether a run may start while the previous one is unfinished. */
export type OverlapPolicy = "allow" | "skip";

/** A recurring schedule as the API answers it; its `headers` are redacted as a job's are. */
export interface Schedule {
  id: string;
  status: ScheduleStatus;
  cron: string;
  timezone: string;
  url: string;
  http_method: HttpMethod;
  headers: Record<string, string>;
  body: string | null;
  max_retries: number;
  timeout_ms: number;
  retry_backoff: RetryBackoff;
  labels: Record<string, string>;
  failure_url: string | null;
  starts_at: string | null;
  ends_at: string | null;
  missed_policy: MissedPolicy;
  overlap_policy: OverlapPolicy;
  /** The first occurrence not yet turned into a job (null when none is left). */
  next_run_at: string | null;
  /** The latest occurrence handled (turned into a job, or skipped by a policy). */
  last_occurrence_at: string | null;
  created_at: string;
  updated_at: string;
}

/** One run of a schedule: the job an occurrence (or a trigger) created. */
export interface ScheduleRun {
  job_id: string;
  status: JobStatus;
  /** The occurrence this run is for; null for a run triggered by hand. */
  occurrence_at: string | null;
  scheduled_at: string;
  attempt: number;
  last_status_code: number | null;
  last_error: string | null;
  finished_at: string | null;
}

/** The API's `POST /schedules` body. */
export interface CreateScheduleRequest extends CallbackRequestInput {
  /** A 5-field cron expression, e.g. "0 9 * * 1-5". */
  cron: string;
  /** An IANA time zone ("UTC" by default). */
  timezone?: string;
  starts_at?: string | null;
  ends_at?: string | null;
  missed_policy?: MissedPolicy;
  overlap_policy?: OverlapPolicy;
  paused?: boolean;
}

/** The API's `PATCH /schedules/:id` body: what is left out keeps its stored value. */
export type UpdateScheduleRequest = Partial<Omit<CreateScheduleRequest, "paused">>;

/** `createSchedule`'s request: the API's `POST /schedules` body, with dates also as Dates and `json` as a body. */
export type CreateScheduleInput = WithDates<CreateScheduleRequest, "starts_at" | "ends_at"> & { json?: unknown };

/** `updateSchedule`'s changes: the API's `PATCH /schedules/:id` body (headers untouched by `json`). */
export type UpdateScheduleInput = WithDates<UpdateScheduleRequest, "starts_at" | "ends_at"> & { json?: unknown };

/** A schedule with the version it was read at, for `updateSchedule(id, changes, { ifMatch: schedule.etag })`. */
export type VersionedSchedule = Schedule & { etag: string | null };

/** `getSchedule`'s answer: the schedule, its next fire times, its recent runs, and its version. */
export type ScheduleWithRuns = Schedule & {
  next_fire_times: string[];
  recent_runs: ScheduleRun[];
  etag: string | null;
};

/** Filters of `listSchedules`; newest first. */
export interface ListSchedulesOptions {
  status?: ScheduleStatus | ScheduleStatus[];
  /** Schedules carrying every one of these labels. */
  labels?: Record<string, string>;
  /** Page size (1 to 200, 50 by default). */
  limit?: number;
  cursor?: string;
}

/** One page of `listSchedules`. */
export interface SchedulePage {
  schedules: Schedule[];
  next_cursor: string | null;
}

/** A URL a topic's messages are delivered to. */
export interface TopicEndpoint {
  id: string;
  url: string;
  created_at: string;
}

/** A fan-out topic: a message published to it becomes one job per endpoint. */
export interface Topic {
  name: string;
  /** Oldest first; those added together, by URL. */
  endpoints: TopicEndpoint[];
  created_at: string;
}

/** `POST /topics`. */
export interface CreateTopicRequest {
  name: string;
  endpoints?: string[];
}

/** A message to publish: a job's fields without its url (each endpoint is one). */
export type PublishInput = Omit<CreateJobInput, "url">;

/** What publishing made: one job per endpoint, sharing `message_id`. */
export interface PublishResult {
  message_id: string;
  jobs: Job[];
}

/** A destination of the project's callbacks (scheme, host and port) and its recent health. */
export interface Destination {
  id: string;
  destination: string;
  /** `paused` after 20 failed attempts in a row: its jobs wait, one probe goes at growing intervals. */
  state: "healthy" | "paused";
  consecutive_failures: number;
  attempts: number;
  failures: number;
  /** Of about the last 20 attempts, the share that got an answer (0 to 1). */
  success_rate: number | null;
  /** How long about the last 20 attempts took, in ms. */
  latency_ms: number | null;
  last_attempt_at: string | null;
  last_success_at: string | null;
  paused_at: string | null;
  next_probe_at: string | null;
}
