/**
 * Rows as the API answers them: each renderer fills a response schema of src/wire/ from what the
 * database stored. Secret header values are never shown (see jobs/redaction).
 */
import type { z } from "zod";
import { TOKEN_PREFIX } from "../auth/tokens";
import type { FlowKeyWithBacklog } from "../db/flow-keys";
import type { ApiTokenRow, DestinationRow, JobAttemptRow, JobRow, ProjectRow, ScheduleRow } from "../db/schema";
import type { TopicWithEndpoints } from "../db/topics";
import { redactHeaders } from "../jobs/redaction";
import type { destinationResponse } from "../wire/destinations";
import type { flowKeyResponse } from "../wire/flow-keys";
import type { attemptResponse, jobResponse } from "../wire/jobs";
import type { scheduleResponse, scheduleRunResponse } from "../wire/schedules";
import type { projectResponse, signingSecretResponse, TOKEN_SCOPES, tokenResponse } from "../wire/tokens";
import type { topicResponse } from "../wire/topics";

const iso = (date: Date) => date.toISOString();
const isoOrNull = (date: Date | null) => (date ? date.toISOString() : null);

/** A job as the API shows it: secret header values are never shown (see jobs/redaction). */
export function toJobJson(job: JobRow): z.input<typeof jobResponse> {
  return {
    id: job.id,
    status: job.status,
    url: job.url,
    http_method: job.httpMethod,
    headers: redactHeaders(job.headers),
    body: job.body,
    scheduled_at: iso(job.scheduledAt),
    run_at: iso(job.runAt),
    max_retries: job.maxRetries,
    timeout_ms: job.timeoutMs,
    retry_backoff: { initial_delay_ms: job.backoffInitialMs, max_delay_ms: job.backoffMaxMs },
    labels: job.labels,
    failure_url: job.failureUrl,
    success_url: job.successUrl,
    expires_at: isoOrNull(job.expiresAt),
    max_retry_duration: job.maxRetryDurationMs === null ? null : job.maxRetryDurationMs / 1000,
    webhook_id: job.webhookId,
    attempt: job.attempt,
    last_status_code: job.lastStatusCode,
    last_error: job.lastError,
    created_at: iso(job.createdAt),
    updated_at: iso(job.updatedAt),
    finished_at: isoOrNull(job.finishedAt),
    schedule_id: job.scheduleId,
    topic: job.topic,
    message_id: job.messageId,
    flow_key: job.flowKey,
  };
}

/** One callback attempt as the API shows it. */
export function toAttemptJson(attempt: JobAttemptRow): z.input<typeof attemptResponse> {
  return {
    attempt: attempt.attempt,
    outcome: attempt.outcome,
    planned_at: iso(attempt.plannedAt),
    fired_at: iso(attempt.firedAt),
    lateness_ms: attempt.latenessMs,
    duration_ms: attempt.durationMs,
    status_code: attempt.statusCode,
    response_excerpt: attempt.responseExcerpt,
    error_class: attempt.errorClass,
    error_message: attempt.errorMessage,
  };
}

/** A schedule as the API shows it: secret header values are never shown (see jobs/redaction). */
export function toScheduleJson(schedule: ScheduleRow): z.input<typeof scheduleResponse> {
  return {
    id: schedule.id,
    status: schedule.status,
    cron: schedule.cron,
    timezone: schedule.timezone,
    url: schedule.url,
    http_method: schedule.httpMethod,
    headers: redactHeaders(schedule.headers),
    body: schedule.body,
    max_retries: schedule.maxRetries,
    timeout_ms: schedule.timeoutMs,
    retry_backoff: { initial_delay_ms: schedule.backoffInitialMs, max_delay_ms: schedule.backoffMaxMs },
    labels: schedule.labels,
    failure_url: schedule.failureUrl,
    starts_at: isoOrNull(schedule.startsAt),
    ends_at: isoOrNull(schedule.endsAt),
    missed_policy: schedule.missedPolicy,
    overlap_policy: schedule.overlapPolicy,
    next_run_at: isoOrNull(schedule.nextRunAt),
    last_occurrence_at: isoOrNull(schedule.lastOccurrenceAt),
    created_at: iso(schedule.createdAt),
    updated_at: iso(schedule.updatedAt),
  };
}

/** One run of a schedule as the API shows it. */
export function toScheduleRunJson(job: JobRow): z.input<typeof scheduleRunResponse> {
  return {
    job_id: job.id,
    status: job.status,
    occurrence_at: isoOrNull(job.occurrenceAt),
    scheduled_at: iso(job.scheduledAt),
    attempt: job.attempt,
    last_status_code: job.lastStatusCode,
    last_error: job.lastError,
    finished_at: isoOrNull(job.finishedAt),
  };
}

export function toTokenJson(row: ApiTokenRow): z.input<typeof tokenResponse> {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes as Array<(typeof TOKEN_SCOPES)[number]>,
    prefix: `${TOKEN_PREFIX}${row.prefix}`,
    created_at: row.createdAt.toISOString(),
    last_used_at: isoOrNull(row.lastUsedAt),
    revoked_at: isoOrNull(row.revokedAt),
  };
}

export function toProjectJson(row: ProjectRow): z.input<typeof projectResponse> {
  return { id: row.id, name: row.name, created_at: row.createdAt.toISOString() };
}

export function toSigningSecretJson(row: {
  secret: string;
  createdAt: Date;
  expiresAt: Date | null;
}): z.input<typeof signingSecretResponse> {
  return { secret: row.secret, created_at: row.createdAt.toISOString(), expires_at: isoOrNull(row.expiresAt) };
}

/** A fan-out topic and its endpoints as the API shows them. */
export function toTopicJson({ topic, endpoints }: TopicWithEndpoints): z.input<typeof topicResponse> {
  return {
    name: topic.name,
    endpoints: endpoints.map((endpoint) => ({
      id: endpoint.id,
      url: endpoint.url,
      created_at: iso(endpoint.createdAt),
    })),
    created_at: iso(topic.createdAt),
  };
}

/** A flow key as the API shows it: limits, state and backlog. */
export function toFlowKeyJson(key: FlowKeyWithBacklog): z.input<typeof flowKeyResponse> {
  return {
    key: key.key,
    rate:
      key.rateLimit !== null && key.ratePeriodMs !== null
        ? { limit: key.rateLimit, period_ms: key.ratePeriodMs }
        : null,
    parallelism: key.parallelism,
    ordered: key.ordered,
    on_head_failure: key.onHeadFailure,
    paused: key.paused,
    paused_reason: key.pausedReason,
    in_flight: key.inFlight,
    waiting: key.waiting,
    held: key.held,
    oldest_due_at: isoOrNull(key.oldestDueAt),
    created_at: iso(key.createdAt),
    updated_at: iso(key.updatedAt),
  };
}

/** A destination as the API shows it: its health and state. */
export function toDestinationJson(row: DestinationRow): z.input<typeof destinationResponse> {
  return {
    id: row.id,
    destination: row.destination,
    state: row.pausedAt ? "paused" : "healthy",
    consecutive_failures: row.consecutiveFailures,
    attempts: row.attempts,
    failures: row.failures,
    success_rate: row.successRate,
    latency_ms: row.latencyMs,
    last_attempt_at: isoOrNull(row.lastAttemptAt),
    last_success_at: isoOrNull(row.lastSuccessAt),
    paused_at: isoOrNull(row.pausedAt),
    next_probe_at: isoOrNull(row.nextProbeAt),
  };
}
