/**
 * The SDK's view of the wire format, derived (types only) from the zod schemas the server
 * validates with, so a field added or changed there shows up here at compile time while the
 * client bundle carries no zod at run time.
 */
import type { z } from "zod";
import type {
  attemptResponse,
  bulkRequest,
  createJobRequest,
  jobResponse,
  listJobsQuery,
  updateJobRequest,
} from "../api/job-schemas";
import type {
  createScheduleRequest,
  scheduleDetailResponse,
  scheduleResponse,
  scheduleRunResponse,
  updateScheduleRequest,
} from "../api/schedule-schemas";

/**
 * A job as the API answers it. Its `headers` show every value as "[redacted]" except the
 * allowlisted harmless ones (Content-Type, Accept, …; see the README's Security section).
 */
export type Job = z.output<typeof jobResponse>;
/** One callback attempt as the API answers it. */
export type Attempt = z.output<typeof attemptResponse>;
export type JobStatus = Job["status"];
export type HttpMethod = Job["http_method"];

/** Fields the client accepts as a `Date` as well as an ISO 8601 string. */
type WithDates<T, K extends keyof T> = Omit<T, K> & { [P in K]?: Exclude<T[P], undefined> | Date };

/**
 * `createJob`'s request: the API's `POST /jobs` body, with `scheduled_at` also as a Date, and
 * `json` as a shortcut for a JSON body (it sets `body` and, unless given, `Content-Type`).
 */
export type CreateJobInput = WithDates<z.input<typeof createJobRequest>, "scheduled_at"> & { json?: unknown };

/** `updateJob`'s changes: the API's `PATCH /jobs/:id` body, with `scheduled_at` as a Date and `json` as a body (headers untouched). */
export type UpdateJobInput = WithDates<z.input<typeof updateJobRequest>, "scheduled_at"> & { json?: unknown };

/** A job with the version it was read at, for `updateJob(id, changes, { ifMatch: job.etag })`. */
export type VersionedJob = Job & { etag: string | null };

/** `getJob`'s answer: the job, its attempts so far, and its version. */
export type JobWithAttempts = VersionedJob & { attempts: Attempt[] };

type ListQuery = z.input<typeof listJobsQuery>;

/** Filters and order of `listJobs`; every page after the first follows the server's cursor. */
export interface ListJobsOptions {
  status?: JobStatus | JobStatus[];
  /** Jobs carrying every one of these labels. */
  labels?: Record<string, string>;
  url_prefix?: string;
  scheduled_after?: string | Date;
  scheduled_before?: string | Date;
  order?: ListQuery["order"];
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

type BulkRequest = z.input<typeof bulkRequest>;
type BulkFilter = NonNullable<BulkRequest["filter"]>;

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

/** A recurring schedule as the API answers it; its `headers` are redacted as a job's are. */
export type Schedule = z.output<typeof scheduleResponse>;
export type ScheduleStatus = Schedule["status"];
/** One run of a schedule: the job an occurrence (or a trigger) created. */
export type ScheduleRun = z.output<typeof scheduleRunResponse>;

/** `createSchedule`'s request: the API's `POST /schedules` body, with dates also as Dates and `json` as a body. */
export type CreateScheduleInput = WithDates<z.input<typeof createScheduleRequest>, "starts_at" | "ends_at"> & {
  json?: unknown;
};

/** `updateSchedule`'s changes: the API's `PATCH /schedules/:id` body (headers untouched by `json`). */
export type UpdateScheduleInput = WithDates<z.input<typeof updateScheduleRequest>, "starts_at" | "ends_at"> & {
  json?: unknown;
};

/** A schedule with the version it was read at, for `updateSchedule(id, changes, { ifMatch: schedule.etag })`. */
export type VersionedSchedule = Schedule & { etag: string | null };

/** `getSchedule`'s answer: the schedule, its next fire times, its recent runs, and its version. */
export type ScheduleWithRuns = z.output<typeof scheduleDetailResponse> & { etag: string | null };

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
