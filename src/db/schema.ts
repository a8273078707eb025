import { sql } from "drizzle-orm";
import {
  type AnyPgColumn,
  bigint,
  bigserial,
  boolean,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  pgView,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import type { HeadFailurePolicy } from "../jobs/flow-control";
import type { HttpMethod } from "../jobs/limits";
import { MISSED_POLICIES, OVERLAP_POLICIES, SCHEDULE_STATUSES } from "../jobs/schedule-policy";
import { ATTEMPT_OUTCOMES, JOB_STATUSES, WAITING_STATUSES } from "../jobs/states";

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/**
 * The unfinished statuses as an SQL list of literals, `('scheduled', 'running')`: a finished job is
 * one whose status is NOT IN it (the partial index and the CHECK). Written by what is not finished
 * so that a status added to the enum is never named in the migration that adds it: Postgres refuses
 * a new enum value in the transaction that added it, and the migrator runs in one transaction.
 */
const UNFINISHED_LIST = sql.raw(`(${WAITING_STATUSES.map((status) => `'${status}'`).join(", ")})`);

/**
 * The destination of a callback URL, as every statement cuts it (`substring(url FROM …)`): its
 * scheme and host with port. The fire queue's lanes and destination health group by it.
 */
export const DESTINATION_PATTERN = "^[^/?#]*//[^/?#]*";

export const jobStatus = pgEnum("job_status", JOB_STATUSES);
export const attemptOutcome = pgEnum("attempt_outcome", ATTEMPT_OUTCOMES);
export const scheduleStatus = pgEnum("schedule_status", SCHEDULE_STATUSES);
export const missedPolicy = pgEnum("missed_policy", MISSED_POLICIES);
export const overlapPolicy = pgEnum("overlap_policy", OVERLAP_POLICIES);

/** The tenant: owns tokens, jobs and signing secrets. */
export const projects = pgTable("projects", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name").notNull(),
  createdAt: timestamptz("created_at").notNull().defaultNow(),
  // Told (a signed POST, as a job of its own) when one of the project's destinations is paused or resumed.
  alertUrl: text("alert_url"),
});

/** Bearer tokens. Only the SHA-256 of the secret is stored; the prefix finds candidate rows. */
export const apiTokens = pgTable(
  "api_tokens",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    projectId: uuid("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    prefix: text("prefix").notNull(),
    tokenHash: text("token_hash").notNull(),
    scopes: text("scopes").array().notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    lastUsedAt: timestamptz("last_used_at"),
    revokedAt: timestamptz("revoked_at"),
  },
  (t) => [index("api_tokens_prefix_idx").on(t.prefix), uniqueIndex("api_tokens_hash_idx").on(t.tokenHash)],
);

/**
 * Dashboard sign-ins. The browser holds a random session id; only its SHA-256 is stored, so
 * neither a stolen cookie nor a leaked row is an API token. A session lives while its token is
 * unrevoked, until expires_at (absolute) and while last_seen_at is recent (idle timeout): see
 * src/db/sessions.ts. Deleting a token (with its project) deletes its sessions.
 */
export const dashboardSessions = pgTable(
  "dashboard_sessions",
  {
    idHash: text("id_hash").primaryKey(),
    tokenId: uuid("token_id")
      .notNull()
      .references(() => apiTokens.id, { onDelete: "cascade" }),
    createdAt: timestamptz("created_at").notNull(),
    lastSeenAt: timestamptz("last_seen_at").notNull(),
    expiresAt: timestamptz("expires_at").notNull(),
  },
  (t) => [index("dashboard_sessions_token_idx").on(t.tokenId)],
);

/**
 * How many of a project's jobs are unfinished (`scheduled` or `running`), in JOB_COUNT_STRIPES
 * rows per project, so that creates and result writes of one project do not all wait for one
 * row's lock: the count is the sum of `unfinished` over the stripes (the project_job_counts
 * view), and which stripe holds which part of it means nothing.
 *
 * The cap on waiting jobs stays exact through `room`: places under the cap handed to a stripe
 * in advance, as granted for the cap `room_cap`. A create that finds room in its stripe takes
 * it under that stripe's lock alone; otherwise it locks all the project's stripes and counts
 * exactly, then hands out the places still free. See createJobsAsCaller (src/db/jobs.ts) for
 * the create, and migrations/0013_job_count_stripes.sql for the triggers that keep the count
 * and take back handed-out places when jobs become unfinished without a create.
 *
 * Stripe 0 is the ledger: finishing, canceling and deleting jobs lower its count, so result
 * writes never wait for creates, which take stripes 1 to JOB_COUNT_STRIPES - 1.
 */
export const projectJobCountStripes = pgTable(
  "project_job_count_stripes",
  {
    projectId: uuid("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    stripe: smallint("stripe").notNull(),
    unfinished: integer("unfinished").notNull().default(0),
    room: integer("room").notNull().default(0),
    roomCap: integer("room_cap").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.stripe] })],
);

/** How many stripes each project's count has (see projectJobCountStripes); migration 0013 creates them. */
export const JOB_COUNT_STRIPES = 16;

/** A project's count of unfinished jobs: the sum of its stripes (a view, created by migration 0013). */
export const projectJobCounts = pgView("project_job_counts", {
  projectId: uuid("project_id").notNull(),
  unfinished: integer("unfinished").notNull(),
}).existing();

/** One scheduled HTTP callback and its delivery state. */
export const jobs = pgTable(
  "jobs",
  {
    id: uuid("id").primaryKey(),
    projectId: uuid("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    // The request, exactly as the caller asked for it.
    url: text("url").notNull(),
    httpMethod: text("http_method").$type<HttpMethod>().notNull(),
    headers: jsonb("headers").$type<Record<string, string>>().notNull(),
    body: text("body"),
    // Schedule: the time asked for, and the time of the next attempt (moves with retries).
    scheduledAt: timestamptz("scheduled_at").notNull(),
    runAt: timestamptz("run_at").notNull(),
    // Policy.
    maxRetries: integer("max_retries").notNull(),
    timeoutMs: integer("timeout_ms").notNull(),
    backoffInitialMs: integer("backoff_initial_ms").notNull().default(10_000),
    backoffMaxMs: integer("backoff_max_ms").notNull().default(3_600_000),
    // Free-form string labels, for the caller's own bookkeeping and for filtering lists.
    labels: jsonb("labels").$type<Record<string, string>>().notNull().default({}),
    // Idempotency-Key of the creating request, and a fingerprint of that request, so a
    // repeat returns this job and a different request under the same key is refused.
    idempotencyKey: text("idempotency_key"),
    idempotencyFingerprint: text("idempotency_fingerprint"),
    // Called (signed, as a job of its own) when this job ends `failed` or `expired`.
    failureUrl: text("failure_url"),
    // Called (signed, as a job of its own) with the response of an attempt that succeeds.
    successUrl: text("success_url"),
    // Deadlines: no attempt starts after expires_at (the job ends `expired`), and no retry
    // starts later than max_retry_duration_ms after the run's first attempt (it ends `failed`).
    expiresAt: timestamptz("expires_at"),
    maxRetryDurationMs: bigint("max_retry_duration_ms", { mode: "number" }),
    // When the current run's first attempt started (null until it does; a replay clears it).
    firstAttemptAt: timestamptz("first_attempt_at"),
    // The receiver's dedupe key (`webhook-id`): the same on every retry of one run.
    webhookId: text("webhook_id").notNull().default(sql`'msg_' || replace(gen_random_uuid()::text, '-', '')`),
    // State. `attempt` counts attempts started; it fences every write from a claimer.
    status: jobStatus("status").notNull(),
    attempt: integer("attempt").notNull().default(0),
    // Attempts whose outcome was never known (their invocation ended mid-attempt). Each has an
    // attempt row with outcome `unknown`, and none counts against max_retries.
    lostAttempts: integer("lost_attempts").notNull().default(0),
    // The lease. On a `scheduled` row: the invocation that claimed it ahead of its time, which
    // alone may start it until locked_until. On a `running` row: the attempt's deadline.
    claimedBy: uuid("claimed_by"),
    lockedUntil: timestamptz("locked_until"),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
    finishedAt: timestamptz("finished_at"),
    // The recurring schedule this job is a run of (null for one-off jobs), and for a run the
    // schedule created on its own, the occurrence it is (null for a run triggered by hand).
    scheduleId: uuid("schedule_id").references((): AnyPgColumn => schedules.id, { onDelete: "set null" }),
    occurrenceAt: timestamptz("occurrence_at"),
    // Fan-out: the topic this job was published to (its name, kept after the topic is gone) and
    // the message it delivers, shared by the one job per endpoint that publish created.
    topic: text("topic"),
    messageId: uuid("message_id"),
    // Flow control: the project's flow key this job is delivered under (see flowKeys), and the run
    // time it had when its key first held it back, so its lateness counts from then.
    flowKey: text("flow_key"),
    heldSince: timestamptz("held_since"),
  },
  (t) => [
    // An occurrence is created at most once, however many ticks or API calls race to create it.
    uniqueIndex("jobs_schedule_occurrence_idx").on(t.scheduleId, t.occurrenceAt).where(sql`occurrence_at IS NOT NULL`),
    index("jobs_schedule_scheduled_idx").on(t.scheduleId, t.scheduledAt).where(sql`schedule_id IS NOT NULL`),
    // The claim scans only due rows; finished rows never enter this index.
    index("jobs_due_idx").on(t.runAt).where(sql`status = 'scheduled'`),
    // Retention scans only finished rows.
    index("jobs_finished_idx").on(t.finishedAt).where(sql`status NOT IN ${UNFINISHED_LIST}`),
    // A finished job has finished_at, and an unfinished one has none (a replay clears it): retention
    // and the dashboard read a job's end from it.
    check("jobs_finished_at_matches_status", sql`(status NOT IN ${UNFINISHED_LIST}) = (finished_at IS NOT NULL)`),
    // Rescue scans only leased rows.
    index("jobs_leased_idx").on(t.lockedUntil).where(sql`status = 'running'`),
    index("jobs_project_created_idx").on(t.projectId, t.createdAt, t.id),
    index("jobs_project_run_at_idx").on(t.projectId, t.runAt, t.id),
    uniqueIndex("jobs_idempotency_idx").on(t.projectId, t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
    // A message's deliveries, read together.
    index("jobs_project_message_idx").on(t.projectId, t.messageId).where(sql`message_id IS NOT NULL`),
    // A key's waiting jobs in delivery order: an ordered key's head, a key's backlog.
    // The jobs a paused destination holds, made due at once when it resumes.
    index("jobs_held_destination_idx")
      .on(t.projectId, sql`substring(url FROM ${sql.raw(`'${DESTINATION_PATTERN}'`)})`)
      .where(sql`status = 'scheduled' AND held_since IS NOT NULL`),
    index("jobs_flow_idx")
      .on(t.projectId, t.flowKey, t.scheduledAt, t.createdAt, t.id)
      .where(sql`flow_key IS NOT NULL AND status IN ${UNFINISHED_LIST}`),
  ],
);

/**
 * A destination of a project's callbacks (scheme, host and port, as DESTINATION_PATTERN in
 * db/jobs.ts cuts it from a URL) and its recent health: written by the statement that records
 * attempts, read by the one that starts them (see jobs/destination-health). `paused_at` set:
 * its jobs wait, but for one probe at `next_probe_at` (`probe_job_id` while it is out).
 */
export const destinations = pgTable(
  "destinations",
  {
    projectId: uuid("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    destination: text("destination").notNull(),
    // How the API names it: a destination's text holds "://" and ":", awkward in a path.
    id: uuid("id").notNull().defaultRandom(),
    consecutiveFailures: integer("consecutive_failures").notNull().default(0),
    attempts: bigint("attempts", { mode: "number" }).notNull().default(0),
    failures: bigint("failures", { mode: "number" }).notNull().default(0),
    // Moving averages over about the last 20 attempts (each new one weighs 0.1).
    successRate: doublePrecision("success_rate"),
    latencyMs: doublePrecision("latency_ms"),
    lastAttemptAt: timestamptz("last_attempt_at"),
    lastSuccessAt: timestamptz("last_success_at"),
    pausedAt: timestamptz("paused_at"),
    nextProbeAt: timestamptz("next_probe_at"),
    probeIntervalMs: integer("probe_interval_ms"),
    probeJobId: uuid("probe_job_id"),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.projectId, t.destination] }),
    uniqueIndex("destinations_id_idx").on(t.id),
    // The start reads only paused destinations; there are few.
    index("destinations_paused_idx").on(t.projectId, t.destination).where(sql`paused_at IS NOT NULL`),
  ],
);

/**
 * A flow key: limits shared by every job of a project that names it, held across every
 * invocation that delivers (see startClaimedJobs). `in_flight` counts the key's running
 * attempts and `next_slot_at` is the earliest instant its rate lets the next callback leave;
 * both change only under the row's lock, in the statements that start and finish attempts.
 */
export const flowKeys = pgTable(
  "flow_keys",
  {
    projectId: uuid("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    key: text("key").notNull(),
    // At most rate_limit callbacks per rate_period_ms (both null: no rate).
    rateLimit: integer("rate_limit"),
    ratePeriodMs: integer("rate_period_ms"),
    // At most this many callbacks in flight at once (null: no limit).
    parallelism: integer("parallelism"),
    // One at a time, in the order of due time then creation (parallelism is then 1).
    ordered: boolean("ordered").notNull().default(false),
    // What an ordered key does when its head fails for good: `wait` pauses the key, `skip` goes on.
    onHeadFailure: text("on_head_failure").$type<HeadFailurePolicy>().notNull().default("wait"),
    paused: boolean("paused").notNull().default(false),
    pausedReason: text("paused_reason"),
    inFlight: integer("in_flight").notNull().default(0),
    nextSlotAt: timestamptz("next_slot_at"),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.projectId, t.key] }),
    check("flow_keys_rate_complete", sql`(rate_limit IS NULL) = (rate_period_ms IS NULL)`),
    check("flow_keys_on_head_failure", sql`on_head_failure IN ('wait', 'skip')`),
  ],
);

/**
 * A recurring schedule: a cron expression in a time zone and the request each occurrence makes.
 * Each occurrence becomes a job (jobs.schedule_id); next_run_at is the first occurrence not yet
 * handled, and moves forward only by a compare-and-set (see src/db/schedules.ts).
 */
export const schedules = pgTable(
  "schedules",
  {
    id: uuid("id").primaryKey(),
    projectId: uuid("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    cron: text("cron").notNull(),
    timezone: text("timezone").notNull(),
    url: text("url").notNull(),
    httpMethod: text("http_method").$type<HttpMethod>().notNull(),
    headers: jsonb("headers").$type<Record<string, string>>().notNull(),
    body: text("body"),
    maxRetries: integer("max_retries").notNull(),
    timeoutMs: integer("timeout_ms").notNull(),
    backoffInitialMs: integer("backoff_initial_ms").notNull(),
    backoffMaxMs: integer("backoff_max_ms").notNull(),
    labels: jsonb("labels").$type<Record<string, string>>().notNull().default({}),
    failureUrl: text("failure_url"),
    // Occurrences from starts_at (inclusive) until ends_at (exclusive).
    startsAt: timestamptz("starts_at"),
    endsAt: timestamptz("ends_at"),
    status: scheduleStatus("status").notNull(),
    missedPolicy: missedPolicy("missed_policy").notNull(),
    overlapPolicy: overlapPolicy("overlap_policy").notNull(),
    idempotencyKey: text("idempotency_key"),
    idempotencyFingerprint: text("idempotency_fingerprint"),
    nextRunAt: timestamptz("next_run_at"),
    lastOccurrenceAt: timestamptz("last_occurrence_at"),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
  },
  (t) => [
    // The tick scans only active schedules with an occurrence left.
    index("schedules_due_idx").on(t.nextRunAt).where(sql`status = 'active'`),
    index("schedules_project_created_idx").on(t.projectId, t.createdAt, t.id),
    uniqueIndex("schedules_idempotency_idx").on(t.projectId, t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
  ],
);

/** A fan-out topic: a job published to it becomes one job per endpoint (see topicEndpoints). */
export const topics = pgTable(
  "topics",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    projectId: uuid("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    createdAt: timestamptz("created_at").notNull(),
  },
  (t) => [uniqueIndex("topics_project_name_idx").on(t.projectId, t.name)],
);

/** A URL a topic's messages are delivered to; removing one leaves the jobs already published alone. */
export const topicEndpoints = pgTable(
  "topic_endpoints",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    topicId: uuid("topic_id")
      .notNull()
      .references(() => topics.id, { onDelete: "cascade" }),
    url: text("url").notNull(),
    createdAt: timestamptz("created_at").notNull(),
  },
  (t) => [uniqueIndex("topic_endpoints_topic_url_idx").on(t.topicId, t.url)],
);

/** One row per callback attempt. */
export const jobAttempts = pgTable(
  "job_attempts",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    jobId: uuid("job_id")
      .notNull()
      .references(() => jobs.id, { onDelete: "cascade" }),
    attempt: integer("attempt").notNull(),
    plannedAt: timestamptz("planned_at").notNull(),
    firedAt: timestamptz("fired_at").notNull(),
    latenessMs: integer("lateness_ms").notNull(),
    durationMs: integer("duration_ms").notNull(),
    statusCode: integer("status_code"),
    responseExcerpt: text("response_excerpt"),
    errorClass: text("error_class"),
    errorMessage: text("error_message"),
    outcome: attemptOutcome("outcome").notNull(),
  },
  (t) => [
    uniqueIndex("job_attempts_job_attempt_idx").on(t.jobId, t.attempt),
    index("job_attempts_fired_idx").on(t.firedAt),
  ],
);

/**
 * Keys that sign callbacks. The current one has no expiry; after a rotation the previous one
 * keeps signing beside it until expires_at, so receivers can switch over without a gap.
 */
export const signingSecrets = pgTable(
  "signing_secrets",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    projectId: uuid("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    secret: text("secret").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    expiresAt: timestamptz("expires_at"),
  },
  (t) => [index("signing_secrets_project_idx").on(t.projectId)],
);

export type ProjectRow = typeof projects.$inferSelect;
export type ProjectJobCountRow = typeof projectJobCounts.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;
export type DashboardSessionRow = typeof dashboardSessions.$inferSelect;
export type JobRow = typeof jobs.$inferSelect;
export type JobAttemptRow = typeof jobAttempts.$inferSelect;
export type ScheduleRow = typeof schedules.$inferSelect;
export type TopicRow = typeof topics.$inferSelect;
export type DestinationRow = typeof destinations.$inferSelect;
export type TopicEndpointRow = typeof topicEndpoints.$inferSelect;
