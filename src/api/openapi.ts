/**
 * The OpenAPI 3.1 document, generated from the zod schemas the handlers validate with and
 * answer by: nothing here restates a field. Served at GET /openapi.json.
 */
import { z } from "zod";
import {
  attemptResponse,
  attemptsQuery,
  bulkRequest,
  createJobRequest,
  createJobsRequest,
  jobResponse,
  listJobsQuery,
  updateJobRequest,
} from "../wire/jobs";
import {
  createScheduleRequest,
  listSchedulesQuery,
  scheduleDetailResponse,
  scheduleResponse,
  updateScheduleRequest,
} from "../wire/schedules";
import {
  createdTokenResponse,
  createProjectRequest,
  createTokenRequest,
  projectResponse,
  rotateSecretRequest,
  signingSecretResponse,
  tokenResponse,
} from "../wire/tokens";

/** JSON Schema (2020-12, the dialect of OpenAPI 3.1) of what a client sends or receives. */
function jsonSchema(schema: z.ZodType, io: "input" | "output" = "input") {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    unrepresentable: "any",
  }) as Record<string, unknown>;
  return rest;
}

/** Query parameters from an object schema's properties. */
function queryParameters(schema: z.ZodType) {
  const json = jsonSchema(schema) as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: "query",
    required: json.required?.includes(name) ?? false,
    schema: property,
    ...(name === "status" || name === "label" ? { style: "form", explode: true } : {}),
  }));
}

const errorResponse = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(z.object({ path: z.string(), message: z.string() })),
  }),
});

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ content: { "application/json": { schema } } });
const error = (description: string) => ({ description, ...json(ref("Error")) });
const jobId = { name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } };
const ifMatch = { name: "If-Match", in: "header", required: false, schema: { type: "string" } };
const commonErrors = {
  "400": error("The body is not JSON, or the URL carries a token (`token_in_query`: send it in Authorization only)"),
  "401": error("Missing, malformed, unknown or revoked token"),
  "422": error("Invalid input; details name each problem"),
  "429": error(
    "Too many requests with this token (`rate_limited`), or too many failed authentications from this address " +
      "(`too_many_auth_failures`); Retry-After says when to retry",
  ),
};
const tokenId = { name: "tokenId", in: "path", required: true, schema: { type: "string", format: "uuid" } };
const projectId = { name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } };
const adminOnly = { security: [{ adminBearer: [] }] };
const tokenList = {
  description: "The tokens, newest first, revoked ones included; never a hash or a secret",
  ...json({
    type: "object",
    properties: { tokens: { type: "array", items: ref("Token") } },
    required: ["tokens"],
  }),
};
const tokenCreated = { description: "The token; `token` is its secret, shown this once", ...json(ref("CreatedToken")) };
const tokenRevoked = { description: "The revoked token; the next request with it answers 401", ...json(ref("Token")) };
const signingSecretList = {
  description: "The live secrets, newest first: the current one, then any older one signing until its expires_at",
  ...json({
    type: "object",
    properties: { signing_secrets: { type: "array", items: ref("SigningSecret") } },
    required: ["signing_secrets"],
  }),
};
const signingSecretRotated = {
  description: "The new secret, and when the older ones stop signing",
  ...json({
    type: "object",
    properties: {
      signing_secret: { type: "string" },
      previous_secrets_expire_at: { type: "string", format: "date-time" },
    },
    required: ["signing_secret", "previous_secrets_expire_at"],
  }),
};
const jobAnswer = (description: string) => ({ description, ...json(ref("Job")) });
const bulkCanceled = {
  description: "The jobs canceled, and the matching jobs left because their attempt had started",
  ...json({
    type: "object",
    properties: {
      count: { type: "integer" },
      ids: { type: "array", items: { type: "string" } },
      running_ids: { type: "array", items: { type: "string" } },
      has_more: { type: "boolean" },
    },
    required: ["count", "ids", "running_ids", "has_more"],
  }),
};
const bulkAnswer = {
  description: "What changed",
  ...json({
    type: "object",
    properties: {
      count: { type: "integer" },
      ids: { type: "array", items: { type: "string" } },
      has_more: { type: "boolean" },
    },
    required: ["count", "ids", "has_more"],
  }),
};

/** Builds the document; `serverUrl` is where this Fliq answers. */
export function openApiDocument(serverUrl: string) {
  return {
    openapi: "3.1.0",
    info: {
      title: "Fliq",
      version: "1",
      description:
        "Durable HTTP timers for Cloudflare Workers: schedule a callback, Fliq fires it on time, retries it, and records every attempt.",
    },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "A `fliq_sk_…` API token" },
        adminBearer: {
          type: "http",
          scheme: "bearer",
          description: "The ADMIN_TOKEN Worker secret (the admin API answers 404 when it is unset)",
        },
      },
      schemas: {
        Error: jsonSchema(errorResponse),
        Job: jsonSchema(jobResponse, "output"),
        Attempt: jsonSchema(attemptResponse, "output"),
        CreateJob: jsonSchema(createJobRequest),
        CreateJobs: jsonSchema(createJobsRequest),
        UpdateJob: jsonSchema(updateJobRequest),
        Bulk: jsonSchema(bulkRequest),
        Token: jsonSchema(tokenResponse, "output"),
        CreatedToken: jsonSchema(createdTokenResponse, "output"),
        CreateToken: jsonSchema(createTokenRequest),
        Project: jsonSchema(projectResponse, "output"),
        CreateProject: jsonSchema(createProjectRequest),
        RotateSecret: jsonSchema(rotateSecretRequest),
        SigningSecret: jsonSchema(signingSecretResponse, "output"),
        ...scheduleSchemas(),
      },
    },
    paths: {
      "/jobs": {
        post: {
          summary: "Schedule a callback",
          parameters: [
            { name: "Idempotency-Key", in: "header", required: false, schema: { type: "string", maxLength: 255 } },
          ],
          requestBody: { required: true, ...json(ref("CreateJob")) },
          responses: {
            "201": jobAnswer("The job"),
            "200": jobAnswer("The original job, for a repeat with the same Idempotency-Key"),
            "409": error("The Idempotency-Key was used for a different request"),
            "413": error("The request body is too large"),
            ...commonErrors,
            "429": error(
              "Too many requests with this token (`rate_limited`, with Retry-After), or the project has as many waiting jobs as it may (`scheduled_jobs_limit`)",
            ),
          },
        },
        get: {
          summary: "List jobs",
          parameters: queryParameters(listJobsQuery),
          responses: {
            "200": {
              description: "A page of jobs",
              ...json({
                type: "object",
                properties: { jobs: { type: "array", items: ref("Job") }, next_cursor: { type: ["string", "null"] } },
                required: ["jobs", "next_cursor"],
              }),
            },
            ...commonErrors,
          },
        },
      },
      "/jobs/batch": {
        post: {
          summary: "Schedule up to 1,000 callbacks, all or none",
          requestBody: { required: true, ...json(ref("CreateJobs")) },
          responses: {
            "201": {
              description: "The jobs, in the order sent",
              ...json({
                type: "object",
                properties: { jobs: { type: "array", items: ref("Job") } },
                required: ["jobs"],
              }),
            },
            ...commonErrors,
            "429": error(
              "Too many requests with this token (`rate_limited`), or the batch would take the project past its cap on waiting jobs (`scheduled_jobs_limit`)",
            ),
          },
        },
      },
      "/jobs/cancel": {
        post: {
          summary: "Cancel jobs in bulk",
          requestBody: { required: true, ...json(ref("Bulk")) },
          responses: { "200": bulkCanceled, ...commonErrors },
        },
      },
      "/jobs/replay": {
        post: {
          summary: "Replay finished jobs in bulk",
          requestBody: { required: true, ...json(ref("Bulk")) },
          responses: { "200": bulkAnswer, ...commonErrors },
        },
      },
      "/jobs/{id}": {
        parameters: [jobId],
        get: {
          summary: "A job and its attempts",
          responses: {
            "200": {
              description: "The job",
              ...json({
                allOf: [
                  ref("Job"),
                  { type: "object", properties: { attempts: { type: "array", items: ref("Attempt") } } },
                ],
              }),
            },
            "404": error("No such job in this project"),
            "401": commonErrors["401"],
          },
        },
        patch: {
          summary: "Change a job that has not started",
          parameters: [ifMatch],
          requestBody: { required: true, ...json(ref("UpdateJob")) },
          responses: {
            "200": jobAnswer("The changed job"),
            "404": error("No such job in this project"),
            "409": error("The job is running or finished"),
            "412": error("If-Match names an older version"),
            ...commonErrors,
          },
        },
        delete: {
          summary: "Cancel a job",
          responses: {
            "200": jobAnswer("The canceled job: no attempt of it starts after this answer"),
            "404": error("No such job"),
            "409": error("The job's attempt has started (`job_running`), or it already finished (`job_finished`)"),
            "401": commonErrors["401"],
          },
        },
      },
      "/jobs/{id}/cancel": {
        parameters: [jobId],
        post: {
          summary: "Cancel a job",
          responses: {
            "200": jobAnswer("The canceled job: no attempt of it starts after this answer"),
            "404": error("No such job"),
            "409": error("The job's attempt has started (`job_running`), or it already finished (`job_finished`)"),
            "401": commonErrors["401"],
          },
        },
      },
      "/jobs/{id}/run": {
        parameters: [jobId],
        post: {
          summary: "Fire a scheduled job now",
          parameters: [ifMatch],
          responses: {
            "200": jobAnswer("The job, due now"),
            "404": error("No such job"),
            "409": error("The job is running or finished"),
            "401": commonErrors["401"],
          },
        },
      },
      "/jobs/{id}/replay": {
        parameters: [jobId],
        post: {
          summary: "Run a finished job again as a new run",
          responses: {
            "200": jobAnswer("The job, scheduled again"),
            "404": error("No such job"),
            "409": error("The job has not finished"),
            "401": commonErrors["401"],
          },
        },
      },
      "/jobs/{id}/attempts": {
        parameters: [jobId],
        get: {
          summary: "A job's attempts, a page at a time",
          parameters: queryParameters(attemptsQuery),
          responses: {
            "200": {
              description: "A page of attempts",
              ...json({
                type: "object",
                properties: {
                  attempts: { type: "array", items: ref("Attempt") },
                  next_after: { type: ["integer", "null"] },
                },
                required: ["attempts", "next_after"],
              }),
            },
            "404": error("No such job"),
            ...commonErrors,
          },
        },
      },
      "/tokens": {
        post: {
          summary: "Create a token for this project (admin scope)",
          requestBody: { required: true, ...json(ref("CreateToken")) },
          responses: { "201": tokenCreated, "403": error("The token lacks the admin scope"), ...commonErrors },
        },
        get: {
          summary: "List this project's tokens (admin scope)",
          responses: { "200": tokenList, "403": error("The token lacks the admin scope"), ...commonErrors },
        },
      },
      "/tokens/{tokenId}": {
        parameters: [tokenId],
        delete: {
          summary: "Revoke a token (admin scope); revoking it again changes nothing",
          responses: {
            "200": tokenRevoked,
            "403": error("The token lacks the admin scope"),
            "404": error("No such token in this project"),
            ...commonErrors,
          },
        },
      },
      "/signing-secrets": {
        get: {
          summary: "The secrets signing this project's callbacks now, newest first (admin scope)",
          responses: {
            "200": signingSecretList,
            "403": error("The token lacks the admin scope"),
            ...commonErrors,
          },
        },
      },
      "/signing-secrets/rotate": {
        post: {
          summary: "Start a signing secret rotation (admin scope); older secrets keep signing for grace_hours",
          requestBody: { required: true, ...json(ref("RotateSecret")) },
          responses: {
            "201": signingSecretRotated,
            "403": error("The token lacks the admin scope"),
            ...commonErrors,
          },
        },
      },
      "/admin/projects": {
        post: {
          summary: "Create a project with its first admin token and signing secret",
          ...adminOnly,
          requestBody: { required: true, ...json(ref("CreateProject")) },
          responses: {
            "201": {
              description: "The project, its admin token (secret shown this once) and its signing secret",
              ...json({
                type: "object",
                properties: { project: ref("Project"), token: ref("CreatedToken"), signing_secret: { type: "string" } },
                required: ["project", "token", "signing_secret"],
              }),
            },
            ...commonErrors,
          },
        },
        get: {
          summary: "List every project",
          ...adminOnly,
          responses: {
            "200": {
              description: "The projects, oldest first",
              ...json({
                type: "object",
                properties: { projects: { type: "array", items: ref("Project") } },
                required: ["projects"],
              }),
            },
            ...commonErrors,
          },
        },
      },
      "/admin/projects/{id}/tokens": {
        parameters: [projectId],
        post: {
          summary: "Create a token for a project",
          ...adminOnly,
          requestBody: { required: true, ...json(ref("CreateToken")) },
          responses: { "201": tokenCreated, "404": error("No such project"), ...commonErrors },
        },
        get: {
          summary: "List a project's tokens",
          ...adminOnly,
          responses: { "200": tokenList, "404": error("No such project"), ...commonErrors },
        },
      },
      "/admin/projects/{id}/tokens/{tokenId}": {
        parameters: [projectId, tokenId],
        delete: {
          summary: "Revoke a project's token",
          ...adminOnly,
          responses: { "200": tokenRevoked, "404": error("No such project or token"), ...commonErrors },
        },
      },
      "/admin/projects/{id}/signing-secrets": {
        parameters: [projectId],
        get: {
          summary: "The secrets signing a project's callbacks now, newest first",
          ...adminOnly,
          responses: {
            "200": signingSecretList,
            "404": error("No such project"),
            ...commonErrors,
          },
        },
      },
      "/admin/projects/{id}/signing-secrets/rotate": {
        parameters: [projectId],
        post: {
          summary: "Start a signing secret rotation; older secrets keep signing for grace_hours",
          ...adminOnly,
          requestBody: { required: true, ...json(ref("RotateSecret")) },
          responses: {
            "201": signingSecretRotated,
            "404": error("No such project"),
            ...commonErrors,
          },
        },
      },
      ...schedulePaths(),
    },
  };
}

function scheduleSchemas() {
  return {
    Schedule: jsonSchema(scheduleResponse, "output"),
    ScheduleDetail: jsonSchema(scheduleDetailResponse, "output"),
    CreateSchedule: jsonSchema(createScheduleRequest),
    UpdateSchedule: jsonSchema(updateScheduleRequest),
  };
}

/** The recurring schedules' routes. */
function schedulePaths() {
  const scheduleAnswer = (description: string) => ({ description, ...json(ref("Schedule")) });
  const notFoundAnswer = error("No such schedule in this project");
  const scheduleChange = (summary: string, description: string) => ({
    parameters: [ifMatch],
    summary,
    responses: {
      "200": scheduleAnswer(description),
      "404": notFoundAnswer,
      "412": error("If-Match names an older version"),
      "401": commonErrors["401"],
    },
  });
  return {
    "/schedules": {
      post: {
        summary: "Create a recurring schedule",
        parameters: [
          { name: "Idempotency-Key", in: "header", required: false, schema: { type: "string", maxLength: 255 } },
        ],
        requestBody: { required: true, ...json(ref("CreateSchedule")) },
        responses: {
          "201": scheduleAnswer("The schedule"),
          "200": scheduleAnswer("The original schedule, for a repeat with the same Idempotency-Key"),
          "409": error("The Idempotency-Key was used for a different request"),
          "413": error("The request body is too large"),
          ...commonErrors,
        },
      },
      get: {
        summary: "List schedules",
        parameters: queryParameters(listSchedulesQuery),
        responses: {
          "200": {
            description: "A page of schedules, newest first",
            ...json({
              type: "object",
              properties: {
                schedules: { type: "array", items: ref("Schedule") },
                next_cursor: { type: ["string", "null"] },
              },
              required: ["schedules", "next_cursor"],
            }),
          },
          ...commonErrors,
        },
      },
    },
    "/schedules/{id}": {
      parameters: [jobId],
      get: {
        summary: "A schedule, its next 5 fire times and its recent runs",
        responses: {
          "200": { description: "The schedule", ...json(ref("ScheduleDetail")) },
          "404": notFoundAnswer,
          "401": commonErrors["401"],
        },
      },
      patch: {
        summary: "Change a schedule in place",
        parameters: [ifMatch],
        requestBody: { required: true, ...json(ref("UpdateSchedule")) },
        responses: {
          "200": scheduleAnswer("The changed schedule"),
          "404": notFoundAnswer,
          "409": error("The schedule kept changing meanwhile"),
          "412": error("If-Match names an older version"),
          ...commonErrors,
        },
      },
      delete: {
        summary: "Delete a schedule; occurrences not yet started are withdrawn, past runs stay",
        responses: {
          "200": scheduleAnswer("The deleted schedule"),
          "404": notFoundAnswer,
          "401": commonErrors["401"],
        },
      },
    },
    "/schedules/{id}/pause": {
      parameters: [jobId],
      post: scheduleChange("Pause a schedule", "The paused schedule"),
    },
    "/schedules/{id}/resume": {
      parameters: [jobId],
      post: scheduleChange("Resume a schedule; missed occurrences follow its missed_policy", "The active schedule"),
    },
    "/schedules/{id}/trigger": {
      parameters: [jobId],
      post: {
        summary: "Run the schedule's request once now, as a job linked to it",
        responses: {
          "201": jobAnswer("The job"),
          "404": notFoundAnswer,
          "401": commonErrors["401"],
        },
      },
    },
  };
}
