/**
 * The schedules API: HTTP in and out over the schedule actions (src/actions/schedules.ts), each
 * route declared beside its handler.
 */
import type { Context } from "hono";
import {
  createCallersSchedule,
  deleteCallersSchedule,
  listCallersSchedules,
  pauseCallersSchedule,
  readCallersSchedule,
  resumeCallersSchedule,
  triggerCallersSchedule,
  updateCallersSchedule,
} from "../actions/schedules";
import type { ScheduleRow } from "../db/schema";
import { actionContextOf } from "../http/action-context";
import type { AppEnv } from "../http/env";
import { notFound } from "../wire/errors";
import { etagOf, idempotencyKeyHeader, ifMatchHeader, jobResponse } from "../wire/jobs";
import {
  createScheduleRequest,
  listSchedulesQuery,
  scheduleDetailResponse,
  scheduleEtagOf,
  scheduleIdParam,
  schedulePageResponse,
  scheduleResponse,
  updateScheduleRequest,
} from "../wire/schedules";
import { IDEMPOTENCY_KEY, parseOrThrow } from "../wire/validation";
import { COMMON_ERRORS } from "./openapi";
import { toJobJson, toScheduleJson, toScheduleRunJson } from "./render";
import { ApiRoutes } from "./routes";
import { parseJsonBody } from "./validation";

/** The schedules API, mounted behind requireToken. */
export const scheduleRoutes = new ApiRoutes({ basePath: "/schedules", tag: "Schedules", security: "bearer" });

const scheduleParams = { id: scheduleIdParam };
const ifMatch = { "If-Match": ifMatchHeader };
const scheduleAnswer = (description: string) => ({ description, body: scheduleResponse });
const notFoundAnswer = "No such schedule in this project";
const staleVersion = "If-Match names an older version";

scheduleRoutes.declare(
  {
    method: "post",
    path: "/",
    summary: "Create a recurring schedule",
    headers: { "Idempotency-Key": idempotencyKeyHeader },
    body: createScheduleRequest,
    answers: {
      201: scheduleAnswer("The schedule"),
      200: scheduleAnswer("The original schedule, for a repeat with the same Idempotency-Key"),
    },
    errors: {
      ...COMMON_ERRORS,
      409: "The Idempotency-Key was used for a different request",
      413: "The request body is too large",
    },
  },
  async (c) => {
    const request = await parseJsonBody(c, createScheduleRequest);
    const key = parseOrThrow(idempotencyKeyHeader, c.req.header("idempotency-key"), IDEMPOTENCY_KEY);
    const { schedule, created } = await createCallersSchedule(actionContextOf(c), request, key);
    c.header("ETag", scheduleEtagOf(schedule));
    return c.json(toScheduleJson(schedule), created ? 201 : 200);
  },
);

scheduleRoutes.declare(
  {
    method: "get",
    path: "/",
    summary: "List schedules",
    query: listSchedulesQuery,
    answers: { 200: { description: "A page of schedules, newest first", body: schedulePageResponse } },
    errors: COMMON_ERRORS,
  },
  async (c) => {
    const query = parseOrThrow(
      listSchedulesQuery,
      {
        ...c.req.query(),
        status: c.req.queries("status"),
        label: c.req.queries("label"),
      },
      { in: "query" },
    );
    const page = await listCallersSchedules(actionContextOf(c), query);
    return c.json({ schedules: page.schedules.map(toScheduleJson), next_cursor: page.nextCursor });
  },
);

/** The schedule id in the path; one that is not a UUID names no schedule. */
function scheduleIdOf(c: Context<AppEnv>): string {
  const id = scheduleIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Schedule");
  return id.data;
}

scheduleRoutes.declare(
  {
    method: "get",
    path: "/:id",
    summary: "A schedule, its next 5 fire times and its recent runs",
    params: scheduleParams,
    answers: { 200: { description: "The schedule", body: scheduleDetailResponse } },
    errors: { 401: COMMON_ERRORS[401], 404: notFoundAnswer },
  },
  async (c) => {
    const { schedule, nextFireTimes, runs } = await readCallersSchedule(actionContextOf(c), scheduleIdOf(c));
    c.header("ETag", scheduleEtagOf(schedule));
    return c.json({
      ...toScheduleJson(schedule),
      next_fire_times: nextFireTimes.map((at) => at.toISOString()),
      recent_runs: runs.map(toScheduleRunJson),
    });
  },
);

/** A schedule as the API answers it, with its version. */
function answerSchedule(c: Context<AppEnv>, schedule: ScheduleRow) {
  c.header("ETag", scheduleEtagOf(schedule));
  return c.json(toScheduleJson(schedule));
}

scheduleRoutes.declare(
  {
    method: "patch",
    path: "/:id",
    summary: "Change a schedule in place",
    params: scheduleParams,
    headers: ifMatch,
    body: updateScheduleRequest,
    answers: { 200: scheduleAnswer("The changed schedule") },
    errors: {
      ...COMMON_ERRORS,
      404: notFoundAnswer,
      409: "The schedule kept changing meanwhile",
      412: staleVersion,
    },
  },
  async (c) => {
    const request = await parseJsonBody(c, updateScheduleRequest);
    const ctx = actionContextOf(c);
    return answerSchedule(c, await updateCallersSchedule(ctx, scheduleIdOf(c), request, c.req.header("if-match")));
  },
);

scheduleRoutes.declare(
  {
    method: "post",
    path: "/:id/pause",
    summary: "Pause a schedule",
    params: scheduleParams,
    headers: ifMatch,
    answers: { 200: scheduleAnswer("The paused schedule") },
    errors: { 401: COMMON_ERRORS[401], 404: notFoundAnswer, 412: staleVersion },
  },
  async (c) =>
    answerSchedule(c, await pauseCallersSchedule(actionContextOf(c), scheduleIdOf(c), c.req.header("if-match"))),
);

scheduleRoutes.declare(
  {
    method: "post",
    path: "/:id/resume",
    summary: "Resume a schedule; missed occurrences follow its missed_policy",
    params: scheduleParams,
    headers: ifMatch,
    answers: { 200: scheduleAnswer("The active schedule") },
    errors: { 401: COMMON_ERRORS[401], 404: notFoundAnswer, 412: staleVersion },
  },
  async (c) =>
    answerSchedule(c, await resumeCallersSchedule(actionContextOf(c), scheduleIdOf(c), c.req.header("if-match"))),
);

scheduleRoutes.declare(
  {
    method: "post",
    path: "/:id/trigger",
    summary: "Run the schedule's request once now, as a job linked to it",
    params: scheduleParams,
    answers: { 201: { description: "The job", body: jobResponse } },
    errors: { 401: COMMON_ERRORS[401], 404: notFoundAnswer },
  },
  async (c) => {
    const job = await triggerCallersSchedule(actionContextOf(c), scheduleIdOf(c));
    c.header("ETag", etagOf(job));
    return c.json(toJobJson(job), 201);
  },
);

scheduleRoutes.declare(
  {
    method: "delete",
    path: "/:id",
    summary: "Delete a schedule; occurrences not yet started are withdrawn, past runs stay",
    params: scheduleParams,
    answers: { 200: scheduleAnswer("The deleted schedule") },
    errors: { 401: COMMON_ERRORS[401], 404: notFoundAnswer },
  },
  async (c) => c.json(toScheduleJson(await deleteCallersSchedule(actionContextOf(c), scheduleIdOf(c)))),
);
