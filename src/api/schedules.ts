/** The schedules API: HTTP in and out over the schedule actions (src/actions/schedules.ts). */
import { type Context, Hono } from "hono";
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
import { etagOf, idempotencyKeyHeader } from "../wire/jobs";
import {
  createScheduleRequest,
  listSchedulesQuery,
  scheduleEtagOf,
  scheduleIdParam,
  updateScheduleRequest,
} from "../wire/schedules";
import { IDEMPOTENCY_KEY, parseOrThrow } from "../wire/validation";
import { toJobJson, toScheduleJson, toScheduleRunJson } from "./render";
import { parseJsonBody } from "./validation";

/** The schedules API, mounted at /schedules behind requireToken. */
export const schedulesApi = new Hono<AppEnv>();

schedulesApi.post("/", async (c) => {
  const request = await parseJsonBody(c, createScheduleRequest);
  const key = parseOrThrow(idempotencyKeyHeader, c.req.header("idempotency-key"), IDEMPOTENCY_KEY);
  const { schedule, created } = await createCallersSchedule(actionContextOf(c), request, key);
  c.header("ETag", scheduleEtagOf(schedule));
  return c.json(toScheduleJson(schedule), created ? 201 : 200);
});

schedulesApi.get("/", async (c) => {
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
});

/** The schedule id in the path; one that is not a UUID names no schedule. */
function scheduleIdOf(c: Context<AppEnv>): string {
  const id = scheduleIdParam.safeParse(c.req.param("id"));
  if (!id.success) throw notFound("Schedule");
  return id.data;
}

schedulesApi.get("/:id", async (c) => {
  const { schedule, nextFireTimes, runs } = await readCallersSchedule(actionContextOf(c), scheduleIdOf(c));
  c.header("ETag", scheduleEtagOf(schedule));
  return c.json({
    ...toScheduleJson(schedule),
    next_fire_times: nextFireTimes.map((at) => at.toISOString()),
    recent_runs: runs.map(toScheduleRunJson),
  });
});

/** A schedule as the API answers it, with its version. */
function answerSchedule(c: Context<AppEnv>, schedule: ScheduleRow) {
  c.header("ETag", scheduleEtagOf(schedule));
  return c.json(toScheduleJson(schedule));
}

schedulesApi.patch("/:id", async (c) => {
  const request = await parseJsonBody(c, updateScheduleRequest);
  const ctx = actionContextOf(c);
  return answerSchedule(c, await updateCallersSchedule(ctx, scheduleIdOf(c), request, c.req.header("if-match")));
});

schedulesApi.post("/:id/pause", async (c) =>
  answerSchedule(c, await pauseCallersSchedule(actionContextOf(c), scheduleIdOf(c), c.req.header("if-match"))),
);

schedulesApi.post("/:id/resume", async (c) =>
  answerSchedule(c, await resumeCallersSchedule(actionContextOf(c), scheduleIdOf(c), c.req.header("if-match"))),
);

schedulesApi.post("/:id/trigger", async (c) => {
  const job = await triggerCallersSchedule(actionContextOf(c), scheduleIdOf(c));
  c.header("ETag", etagOf(job));
  return c.json(toJobJson(job), 201);
});

schedulesApi.delete("/:id", async (c) =>
  c.json(toScheduleJson(await deleteCallersSchedule(actionContextOf(c), scheduleIdOf(c)))),
);
