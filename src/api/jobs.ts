import { type Context, Hono } from "hono";
import { cancelJob, findJob, insertJob, listAttempts } from "../db/jobs";
import { apiDeliveryWindowEnd, deliverSoon } from "../dispatch/deliver-soon";
import { TIMING } from "../dispatch/delivery-run";
import { JOB_LIMITS } from "../jobs/limits";
import { readSettings } from "../settings";
import type { AppEnv } from "./context";
import { ApiError, notFound } from "./errors";
import { createJobRequest, jobIdParam, toAttemptJson, toJobJson } from "./job-schemas";
import { parseJsonBody } from "./validation";

/** The jobs API, mounted at /jobs behind requireToken. */
export const jobsApi = new Hono<AppEnv>();

jobsApi.post("/", async (c) => {
  const request = await parseJsonBody(c, createJobRequest);
  const now = c.var.now;
  const scheduledAt = request.scheduled_at ? new Date(request.scheduled_at) : now;
  if (scheduledAt.getTime() - now.getTime() > JOB_LIMITS.scheduleHorizonMs) {
    throw new ApiError(422, "validation_failed", "The request is not valid; see details.", [
      { path: "scheduled_at", message: "must be at most 366 days ahead" },
    ]);
  }
  // A job due before this invocation's after-response window closes is fired from here.
  const windowEnd = apiDeliveryWindowEnd(now, request.timeout_ms);
  const claimant = scheduledAt < windowEnd ? crypto.randomUUID() : null;
  const job = await insertJob(c.var.db, {
    id: crypto.randomUUID(),
    projectId: c.var.auth.projectId,
    url: request.url,
    httpMethod: request.http_method,
    headers: request.headers,
    body: request.body,
    scheduledAt,
    runAt: scheduledAt,
    maxRetries: request.max_retries,
    timeoutMs: request.timeout_ms,
    backoffInitialMs: request.retry_backoff.initial_delay_ms,
    backoffMaxMs: request.retry_backoff.max_delay_ms,
    claimedBy: claimant,
    lockedUntil: claimant ? new Date(scheduledAt.getTime() + TIMING.claimLeaseMs) : null,
    createdAt: now,
  });
  if (claimant) {
    const settings = readSettings(c.env);
    c.executionCtx.waitUntil(deliverSoon(settings, claimant, windowEnd, [{ id: job.id, runAt: job.runAt }]));
  }
  return c.json(toJobJson(job), 201);
});

/** The job id in the path; one that is not a UUID names no job. */
function jobIdOf(c: Context<AppEnv>): string {
  const id = jobIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Job");
  return id.data;
}

jobsApi.get("/:id", async (c) => {
  const job = await findJob(c.var.db, c.var.auth.projectId, jobIdOf(c));
  if (!job) throw notFound("Job");
  const attempts = await listAttempts(c.var.db, job.id);
  return c.json({ ...toJobJson(job), attempts: attempts.map(toAttemptJson) });
});

/** Cancel: once this answers, a scheduled job never fires; a running one is not retried. */
async function cancel(c: Context<AppEnv>) {
  const job = await cancelJob(c.var.db, c.var.auth.projectId, jobIdOf(c), c.var.now);
  if (!job) throw notFound("Job");
  if (job.status !== "canceled") {
    throw new ApiError(409, "job_finished", `The job has already ${job.status}; there is nothing to cancel.`);
  }
  return c.json(toJobJson(job));
}

jobsApi.delete("/:id", cancel);
jobsApi.post("/:id/cancel", cancel);
