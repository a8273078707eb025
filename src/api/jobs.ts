import { Hono } from "hono";
import { findJob, insertJob, listAttempts } from "../db/jobs";
import { JOB_LIMITS } from "../jobs/limits";
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
    createdAt: now,
  });
  return c.json(toJobJson(job), 201);
});

jobsApi.get("/:id", async (c) => {
  const id = jobIdParam.safeParse(c.req.param("id"));
  const job = id.success ? await findJob(c.var.db, c.var.auth.projectId, id.data) : undefined;
  if (!job) throw notFound("Job");
  const attempts = await listAttempts(c.var.db, job.id);
  return c.json({ ...toJobJson(job), attempts: attempts.map(toAttemptJson) });
});
