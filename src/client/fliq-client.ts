/**
 * A typed client for the Fliq API. Its only dependency is `fetch`, so it runs in Workers,
 * Node 20+ and browsers (Bun and Deno have the same APIs, untested); a Worker bound to Fliq by
 * a service binding passes the binding's `fetch` and never leaves Cloudflare's network.
 */
import { errorFromResponse, FliqError } from "./errors.js";
import { isRetryable, RETRY_DEFAULTS, type RetryOptions, retryDelayMs } from "./retry-policy.js";
import type {
  Attempt,
  AttemptPage,
  BulkCancelResult,
  BulkResult,
  BulkSelection,
  CreateJobInput,
  CreateScheduleInput,
  CreateTopicRequest,
  Destination,
  FlowKey,
  FlowKeyPage,
  Job,
  JobPage,
  JobWithAttempts,
  ListJobsOptions,
  ListSchedulesOptions,
  PublishInput,
  PublishResult,
  Schedule,
  SchedulePage,
  ScheduleWithRuns,
  Topic,
  UpdateFlowKeyRequest,
  UpdateJobInput,
  UpdateScheduleInput,
  VersionedJob,
  VersionedSchedule,
} from "./types.js";

export interface FliqClientOptions {
  /** Where Fliq answers, e.g. `https://fliq.example.workers.dev` (any origin with a service binding's fetch). */
  baseUrl: string;
  /** An API token, `fliq_sk_…` (keep it in a Worker secret: `wrangler secret put FLIQ_API_TOKEN`). */
  token: string;
  /** The fetch to call Fliq with: the global one by default, or a service binding's `fetch`. */
  fetch?: (input: Request) => Promise<Response>;
  /** Retries of calls that are safe to repeat; `false` turns them off. */
  retry?: RetryOptions | false;
  /** How long one try may take before it counts as a timeout (30 s by default). */
  timeoutMs?: number;
}

/** Per-call options of `createJob`. */
export interface CreateJobOptions {
  /**
   * Makes the create safe to repeat: the same key and request answer the same job for 24 hours.
   * With a key, the client also retries the create after a network error or a 5xx.
   */
  idempotencyKey?: string;
}

/** Per-call options of calls that change one job. */
export interface IfMatchOptions {
  /** Apply only to this version of the job (its `etag`); otherwise a `precondition_failed` FliqError (412). */
  ifMatch?: string | null;
}

interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Whether repeating the call is harmless, so it may be retried. */
  idempotent: boolean;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Creates a client; see FliqClientOptions. */
export function createFliqClient(options: FliqClientOptions): FliqClient {
  return new FliqClient(options);
}

export class FliqClient {
  private readonly baseUrl: string;
  private readonly send: (request: Request) => Promise<Response>;
  private readonly retry: Required<RetryOptions>;
  private readonly timeoutMs: number;

  constructor(private readonly options: FliqClientOptions) {
    if (!options.baseUrl) throw new TypeError("FliqClient: baseUrl is required");
    if (!options.token) throw new TypeError("FliqClient: token is required");
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    // Bound, so a Worker's global fetch is never called with a foreign `this`.
    this.send = options.fetch ?? ((request) => fetch(request));
    this.retry = options.retry === false ? { ...RETRY_DEFAULTS, retries: 0 } : { ...RETRY_DEFAULTS, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Schedules one callback (`POST /jobs`). */
  async createJob(job: CreateJobInput, options: CreateJobOptions = {}): Promise<VersionedJob> {
    const headers = options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : undefined;
    const { data, response } = await this.call<Job>("POST", "/jobs", {
      body: toWireJob(job, "create"),
      headers,
      idempotent: options.idempotencyKey !== undefined,
    });
    return { ...data, etag: response.headers.get("etag") };
  }

  /** Schedules up to 1,000 callbacks at once, all or none (`POST /jobs/batch`). */
  async createJobs(jobs: CreateJobInput[]): Promise<Job[]> {
    const { data } = await this.call<{ jobs: Job[] }>("POST", "/jobs/batch", {
      body: { jobs: jobs.map((job) => toWireJob(job, "create")) },
      idempotent: false,
    });
    return data.jobs;
  }

  /** A job, its attempts, and its version (`GET /jobs/:id`). */
  async getJob(id: string): Promise<JobWithAttempts> {
    const { data, response } = await this.call<Omit<JobWithAttempts, "etag">>("GET", jobPath(id), {
      idempotent: true,
    });
    return { ...data, etag: response.headers.get("etag") };
  }

  /** One page of jobs (`GET /jobs`); `next_cursor` names the next page. */
  async listJobsPage(options: ListJobsOptions = {}): Promise<JobPage> {
    const { data } = await this.call<JobPage>("GET", `/jobs${listQuery(options)}`, { idempotent: true });
    return data;
  }

  /** Every page of jobs matching the options, fetched one at a time as the loop asks for them. */
  async *listJobPages(options: ListJobsOptions = {}): AsyncGenerator<JobPage> {
    let cursor = options.cursor;
    do {
      const page = await this.listJobsPage({ ...options, cursor });
      yield page;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** Every job matching the options, across pages: `for await (const job of fliq.listJobs({ status: "failed" }))`. */
  async *listJobs(options: ListJobsOptions = {}): AsyncGenerator<Job> {
    for await (const page of this.listJobPages(options)) yield* page.jobs;
  }

  /** One page of a job's attempts after attempt number `after` (`GET /jobs/:id/attempts`). */
  async listAttemptsPage(id: string, options: { after?: number; limit?: number } = {}): Promise<AttemptPage> {
    const params = new URLSearchParams();
    if (options.after !== undefined) params.set("after", String(options.after));
    if (options.limit !== undefined) params.set("limit", String(options.limit));
    const query = params.size > 0 ? `?${params}` : "";
    const { data } = await this.call<AttemptPage>("GET", `${jobPath(id)}/attempts${query}`, { idempotent: true });
    return data;
  }

  /** Every attempt of a job, oldest first, across pages. */
  async *listAttempts(id: string, options: { limit?: number } = {}): AsyncGenerator<Attempt> {
    let after: number | undefined;
    do {
      const page = await this.listAttemptsPage(id, { ...options, after });
      yield* page.attempts;
      after = page.next_after ?? undefined;
    } while (after !== undefined);
  }

  /** Changes a job that has not started (`PATCH /jobs/:id`), optionally only if it is still at `ifMatch`. */
  async updateJob(id: string, changes: UpdateJobInput, options: IfMatchOptions = {}): Promise<VersionedJob> {
    const { data, response } = await this.call<Job>("PATCH", jobPath(id), {
      body: toWireJob(changes, "change"),
      headers: ifMatchHeader(options),
      idempotent: false,
    });
    return { ...data, etag: response.headers.get("etag") };
  }

  /**
   * Cancels a job; once this returns, no attempt of it starts (`POST /jobs/:id/cancel`). A job
   * whose attempt has started throws a FliqError with code `job_running`.
   */
  async cancelJob(id: string): Promise<Job> {
    const { data } = await this.call<Job>("POST", `${jobPath(id)}/cancel`, { idempotent: false });
    return data;
  }

  /** Fires a scheduled job now, keeping its scheduled_at (`POST /jobs/:id/run`). */
  async runJob(id: string, options: IfMatchOptions = {}): Promise<VersionedJob> {
    const { data, response } = await this.call<Job>("POST", `${jobPath(id)}/run`, {
      headers: ifMatchHeader(options),
      idempotent: false,
    });
    return { ...data, etag: response.headers.get("etag") };
  }

  /** Runs a finished job again, as a new run with a new webhook-id (`POST /jobs/:id/replay`). */
  async replayJob(id: string): Promise<VersionedJob> {
    const { data, response } = await this.call<Job>("POST", `${jobPath(id)}/replay`, { idempotent: false });
    return { ...data, etag: response.headers.get("etag") };
  }

  /**
   * Cancels the jobs named by ids or a filter that have not started (`POST /jobs/cancel`);
   * `running_ids` names those left because their attempt had started. Repeat while `has_more`.
   */
  async cancelJobs(selection: BulkSelection): Promise<BulkCancelResult> {
    const { data } = await this.call<BulkCancelResult>("POST", "/jobs/cancel", {
      body: toWireSelection(selection),
      idempotent: false,
    });
    return data;
  }

  /** Replays the finished jobs named by ids or a filter (`POST /jobs/replay`); repeat while `has_more`. */
  async replayJobs(selection: BulkSelection): Promise<BulkResult> {
    const { data } = await this.call<BulkResult>("POST", "/jobs/replay", {
      body: toWireSelection(selection),
      idempotent: false,
    });
    return data;
  }

  /** Creates a recurring schedule (`POST /schedules`); with a key, safe to repeat and retried like `createJob`. */
  async createSchedule(schedule: CreateScheduleInput, options: CreateJobOptions = {}): Promise<VersionedSchedule> {
    const headers = options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : undefined;
    const { data, response } = await this.call<Schedule>("POST", "/schedules", {
      body: toWireSchedule(schedule, "create"),
      headers,
      idempotent: options.idempotencyKey !== undefined,
    });
    return { ...data, etag: response.headers.get("etag") };
  }

  /** A schedule, its next fire times, its recent runs and its version (`GET /schedules/:id`). */
  async getSchedule(id: string): Promise<ScheduleWithRuns> {
    const { data, response } = await this.call<Omit<ScheduleWithRuns, "etag">>("GET", schedulePath(id), {
      idempotent: true,
    });
    return { ...data, etag: response.headers.get("etag") };
  }

  /** One page of schedules, newest first (`GET /schedules`). */
  async listSchedulesPage(options: ListSchedulesOptions = {}): Promise<SchedulePage> {
    const params = new URLSearchParams();
    for (const status of options.status === undefined ? [] : [options.status].flat()) params.append("status", status);
    for (const [key, value] of Object.entries(options.labels ?? {})) params.append("label", `${key}:${value}`);
    if (options.limit !== undefined) params.set("limit", String(options.limit));
    if (options.cursor !== undefined) params.set("cursor", options.cursor);
    const query = params.size > 0 ? `?${params}` : "";
    const { data } = await this.call<SchedulePage>("GET", `/schedules${query}`, { idempotent: true });
    return data;
  }

  /** Every schedule matching the options, across pages. */
  async *listSchedules(options: ListSchedulesOptions = {}): AsyncGenerator<Schedule> {
    let cursor = options.cursor;
    do {
      const page = await this.listSchedulesPage({ ...options, cursor });
      yield* page.schedules;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** Changes a schedule (`PATCH /schedules/:id`); its future occurrences are planned again from now. */
  async updateSchedule(
    id: string,
    changes: UpdateScheduleInput,
    options: IfMatchOptions = {},
  ): Promise<VersionedSchedule> {
    return this.changeSchedule("PATCH", schedulePath(id), toWireSchedule(changes, "change"), options);
  }

  /** Stops a schedule's occurrences until `resumeSchedule` (`POST /schedules/:id/pause`). */
  async pauseSchedule(id: string, options: IfMatchOptions = {}): Promise<VersionedSchedule> {
    return this.changeSchedule("POST", `${schedulePath(id)}/pause`, undefined, options);
  }

  /** Starts a paused schedule again; missed occurrences follow its missed policy (`POST /schedules/:id/resume`). */
  async resumeSchedule(id: string, options: IfMatchOptions = {}): Promise<VersionedSchedule> {
    return this.changeSchedule("POST", `${schedulePath(id)}/resume`, undefined, options);
  }

  /** Runs a schedule's request once now, as a job linked to it (`POST /schedules/:id/trigger`). */
  async triggerSchedule(id: string): Promise<VersionedJob> {
    const { data, response } = await this.call<Job>("POST", `${schedulePath(id)}/trigger`, { idempotent: false });
    return { ...data, etag: response.headers.get("etag") };
  }

  /** Deletes a schedule; its runs that have not started are withdrawn (`DELETE /schedules/:id`). */
  async deleteSchedule(id: string): Promise<Schedule> {
    const { data } = await this.call<Schedule>("DELETE", schedulePath(id), { idempotent: false });
    return data;
  }

  /** Creates a fan-out topic with its first endpoints (`POST /topics`). */
  async createTopic(topic: CreateTopicRequest): Promise<Topic> {
    const { data } = await this.call<Topic>("POST", "/topics", { body: topic, idempotent: false });
    return data;
  }

  /** A topic and its endpoints (`GET /topics/:name`). */
  async getTopic(name: string): Promise<Topic> {
    const { data } = await this.call<Topic>("GET", topicPath(name), { idempotent: true });
    return data;
  }

  /** Every topic of the project, by name (`GET /topics`). */
  async listTopics(): Promise<Topic[]> {
    const { data } = await this.call<{ topics: Topic[] }>("GET", "/topics", { idempotent: true });
    return data.topics;
  }

  /** Deletes a topic; the jobs published to it stay (`DELETE /topics/:name`). */
  async deleteTopic(name: string): Promise<Topic> {
    const { data } = await this.call<Topic>("DELETE", topicPath(name), { idempotent: false });
    return data;
  }

  /** Adds an endpoint; safe to repeat (`POST /topics/:name/endpoints`). */
  async addTopicEndpoint(name: string, url: string): Promise<Topic> {
    const { data } = await this.call<Topic>("POST", `${topicPath(name)}/endpoints`, {
      body: { url },
      idempotent: true,
    });
    return data;
  }

  /** Removes an endpoint by its id; messages published before still go to it (`DELETE /topics/:name/endpoints/:id`). */
  async removeTopicEndpoint(name: string, endpointId: string): Promise<Topic> {
    const path = `${topicPath(name)}/endpoints/${encodeURIComponent(endpointId)}`;
    const { data } = await this.call<Topic>("DELETE", path, { idempotent: false });
    return data;
  }

  /** Publishes a message to a topic: one job per endpoint, all or none (`POST /topics/:name/jobs`). */
  async publish(name: string, message: PublishInput = {}): Promise<PublishResult> {
    const { data } = await this.call<PublishResult>("POST", `${topicPath(name)}/jobs`, {
      body: toWireJob(message, "create"),
      idempotent: false,
    });
    return data;
  }

  /** A page of the project's flow keys by name, with their limits and backlog (`GET /flow-keys`). */
  async listFlowKeys(options: { limit?: number; after?: string } = {}): Promise<FlowKeyPage> {
    const params = new URLSearchParams();
    if (options.limit !== undefined) params.set("limit", String(options.limit));
    if (options.after !== undefined) params.set("after", options.after);
    const query = params.size > 0 ? `?${params}` : "";
    const { data } = await this.call<FlowKeyPage>("GET", `/flow-keys${query}`, { idempotent: true });
    return data;
  }

  /** A flow key: its limits, state and backlog (`GET /flow-keys/:key`). */
  async getFlowKey(key: string): Promise<FlowKey> {
    const { data } = await this.call<FlowKey>("GET", flowKeyPath(key), { idempotent: true });
    return data;
  }

  /** Changes a flow key's limits; null removes one (`PATCH /flow-keys/:key`). Safe to repeat. */
  async updateFlowKey(key: string, changes: UpdateFlowKeyRequest): Promise<FlowKey> {
    const { data } = await this.call<FlowKey>("PATCH", flowKeyPath(key), { body: changes, idempotent: true });
    return data;
  }

  /** Pauses a flow key: its jobs wait, without spending retries (`POST /flow-keys/:key/pause`). */
  async pauseFlowKey(key: string): Promise<FlowKey> {
    const { data } = await this.call<FlowKey>("POST", `${flowKeyPath(key)}/pause`, { idempotent: true });
    return data;
  }

  /** Resumes a flow key; the jobs it held are due at once (`POST /flow-keys/:key/resume`). */
  async resumeFlowKey(key: string): Promise<FlowKey> {
    const { data } = await this.call<FlowKey>("POST", `${flowKeyPath(key)}/resume`, { idempotent: true });
    return data;
  }

  /** The destinations the project's callbacks go to, with their health (`GET /destinations`). */
  async listDestinations(): Promise<Destination[]> {
    const { data } = await this.call<{ destinations: Destination[] }>("GET", "/destinations", { idempotent: true });
    return data.destinations;
  }

  /** A destination's health and state (`GET /destinations/:id`). */
  async getDestination(id: string): Promise<Destination> {
    const { data } = await this.call<Destination>("GET", `/destinations/${encodeURIComponent(id)}`, {
      idempotent: true,
    });
    return data;
  }

  /** Resumes a paused destination; the jobs it held are due at once (`POST /destinations/:id/resume`). */
  async resumeDestination(id: string): Promise<Destination> {
    const { data } = await this.call<Destination>("POST", `/destinations/${encodeURIComponent(id)}/resume`, {
      idempotent: true,
    });
    return data;
  }

  /** Where pauses and resumes of destinations are told (`GET /destinations/alert-url`; null: nowhere). */
  async getDestinationAlertUrl(): Promise<string | null> {
    const { data } = await this.call<{ url: string | null }>("GET", "/destinations/alert-url", { idempotent: true });
    return data.url;
  }

  /** Sets, or with null removes, the alert URL (`PATCH /destinations/alert-url`). */
  async setDestinationAlertUrl(url: string | null): Promise<string | null> {
    const { data } = await this.call<{ url: string | null }>("PATCH", "/destinations/alert-url", {
      body: { url },
      idempotent: true,
    });
    return data.url;
  }

  private async changeSchedule(
    method: string,
    path: string,
    body: unknown,
    options: IfMatchOptions,
  ): Promise<VersionedSchedule> {
    const { data, response } = await this.call<Schedule>(method, path, {
      body,
      headers: ifMatchHeader(options),
      idempotent: false,
    });
    return { ...data, etag: response.headers.get("etag") };
  }

  /** One API call: tried once, or, when it is safe to repeat, up to `retries` more times. */
  private async call<T>(method: string, path: string, options: CallOptions): Promise<{ data: T; response: Response }> {
    const tries = 1 + (options.idempotent ? this.retry.retries : 0);
    for (let tryNumber = 1; ; tryNumber++) {
      try {
        const response = await this.sendOnce(method, path, options);
        if (!response.ok) throw await errorFromResponse(response);
        return { data: (await response.json()) as T, response };
      } catch (error) {
        if (!(error instanceof FliqError) || tryNumber >= tries || !isRetryable(error)) throw error;
        await sleep(retryDelayMs(tryNumber, error.retryAfter, this.retry, new Date(), Math.random));
      }
    }
  }

  private async sendOnce(method: string, path: string, options: CallOptions): Promise<Response> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.options.token}`,
      accept: "application/json",
      ...options.headers,
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      return await this.send(new Request(`${this.baseUrl}${path}`, { method, headers, body, signal }));
    } catch (error) {
      if (signal.aborted) {
        throw new FliqError(0, "timeout", `No answer from Fliq within ${this.timeoutMs} ms.`, [], { cause: error });
      }
      throw new FliqError(0, "network_error", `Fliq could not be reached: ${String(error)}`, [], { cause: error });
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const jobPath = (id: string) => `/jobs/${encodeURIComponent(id)}`;

const schedulePath = (id: string) => `/schedules/${encodeURIComponent(id)}`;

const isoOf = (value: string | Date) => (value instanceof Date ? value.toISOString() : value);

function ifMatchHeader(options: IfMatchOptions): Record<string, string> | undefined {
  return options.ifMatch ? { "if-match": options.ifMatch } : undefined;
}

/**
 * The API's body for a create or change: dates as ISO strings, `json` turned into `body`. A
 * create also gets `Content-Type: application/json` unless it names one; a change does not,
 * because a PATCH's `headers` replace all of the job's headers.
 */
function toWireJob(input: CreateJobInput | UpdateJobInput, kind: "create" | "change"): Record<string, unknown> {
  const { json, scheduled_at, ...rest } = input;
  const wire: Record<string, unknown> = { ...rest };
  if (scheduled_at !== undefined) wire.scheduled_at = isoOf(scheduled_at);
  if ("expires_at" in input && input.expires_at) wire.expires_at = isoOf(input.expires_at);
  if (json !== undefined) {
    if (input.body !== undefined) throw new TypeError("Give `body` or `json`, not both.");
    wire.body = JSON.stringify(json);
    if (kind === "create") {
      const headers = input.headers ?? {};
      const hasContentType = Object.keys(headers).some((name) => name.toLowerCase() === "content-type");
      wire.headers = hasContentType ? headers : { ...headers, "Content-Type": "application/json" };
    }
  }
  return wire;
}

/** The API's body for a schedule's create or change: as `toWireJob`, with its start and end dates. */
function toWireSchedule(
  input: CreateScheduleInput | UpdateScheduleInput,
  kind: "create" | "change",
): Record<string, unknown> {
  const { starts_at, ends_at, ...rest } = input;
  const wire = toWireJob(rest, kind);
  if (starts_at !== undefined) wire.starts_at = starts_at === null ? null : isoOf(starts_at);
  if (ends_at !== undefined) wire.ends_at = ends_at === null ? null : isoOf(ends_at);
  return wire;
}

function toWireSelection(selection: BulkSelection): Record<string, unknown> {
  if ("ids" in selection) return { ids: selection.ids };
  const { scheduled_after, scheduled_before, ...filter } = selection.filter;
  return {
    filter: {
      ...filter,
      ...(scheduled_after !== undefined && { scheduled_after: isoOf(scheduled_after) }),
      ...(scheduled_before !== undefined && { scheduled_before: isoOf(scheduled_before) }),
    },
  };
}

function flowKeyPath(key: string): string {
  return `/flow-keys/${encodeURIComponent(key)}`;
}

function topicPath(name: string): string {
  return `/topics/${encodeURIComponent(name)}`;
}

/** The query string of `GET /jobs`: repeated `status` and `label=key:value` parameters. */
function listQuery(options: ListJobsOptions): string {
  const params = new URLSearchParams();
  const statuses = options.status === undefined ? [] : [options.status].flat();
  for (const status of statuses) params.append("status", status);
  for (const [key, value] of Object.entries(options.labels ?? {})) params.append("label", `${key}:${value}`);
  if (options.url_prefix !== undefined) params.set("url_prefix", options.url_prefix);
  if (options.scheduled_after !== undefined) params.set("scheduled_after", isoOf(options.scheduled_after));
  if (options.scheduled_before !== undefined) params.set("scheduled_before", isoOf(options.scheduled_before));
  if (options.schedule_id !== undefined) params.set("schedule_id", options.schedule_id);
  if (options.topic !== undefined) params.set("topic", options.topic);
  if (options.message_id !== undefined) params.set("message_id", options.message_id);
  if (options.order !== undefined) params.set("order", options.order);
  if (options.limit !== undefined) params.set("limit", String(options.limit));
  if (options.cursor !== undefined) params.set("cursor", options.cursor);
  return params.size > 0 ? `?${params}` : "";
}
