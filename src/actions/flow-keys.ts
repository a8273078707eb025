/**
 * Flow keys: what a caller can do with them. A key is created by the first job that names it
 * (see createJobsAsCaller); here it is listed with its backlog, read, given new limits, paused
 * and resumed. The limits themselves are applied where attempts start (db/jobs.ts, keyedStart).
 */
import {
  type FlowKeyWithBacklog,
  findFlowKey,
  listFlowKeys,
  pauseFlowKey,
  resumeFlowKey,
  updateFlowKeyLimits,
} from "../db/flow-keys";
import type { FlowLimits } from "../jobs/flow-control";
import { notFound } from "../wire/errors";
import type { UpdateFlowKeyRequest } from "../wire/flow-keys";
import type { ActionContext } from "./context";
import { announceDue } from "./jobs";

/** A page of the caller's keys in name order, and the `after` of the next page (null on the last). */
export async function listCallersFlowKeys(
  ctx: ActionContext,
  query: { after?: string; limit: number },
): Promise<{ keys: FlowKeyWithBacklog[]; nextAfter: string | null }> {
  const page = await listFlowKeys(ctx.db, ctx.caller.projectId, { after: query.after, limit: query.limit + 1 });
  const keys = page.slice(0, query.limit);
  return { keys, nextAfter: page.length > query.limit ? (keys.at(-1)?.key ?? null) : null };
}

/** The caller's key `key`, with its backlog; another project's key is not found. */
export async function readCallersFlowKey(ctx: ActionContext, key: string): Promise<FlowKeyWithBacklog> {
  const found = await findFlowKey(ctx.db, ctx.caller.projectId, key);
  if (!found) throw notFound("Flow key");
  return found;
}

/** The stored limits a change asks for: an ordered key runs one at a time, so ordering sets parallelism 1. */
export function flowLimitChanges(request: UpdateFlowKeyRequest): Partial<FlowLimits> {
  const changes: Partial<FlowLimits> = {};
  if (request.rate !== undefined) {
    changes.rateLimit = request.rate?.limit ?? null;
    changes.ratePeriodMs = request.rate?.period ?? null;
  }
  if (request.parallelism !== undefined) changes.parallelism = request.parallelism;
  if (request.ordered !== undefined) changes.ordered = request.ordered;
  if (request.ordered === true) changes.parallelism = 1;
  if (request.on_head_failure !== undefined) changes.onHeadFailure = request.on_head_failure;
  return changes;
}

/** Gives a key new limits; the next start of its jobs applies them. */
export async function updateCallersFlowKey(
  ctx: ActionContext,
  key: string,
  request: UpdateFlowKeyRequest,
): Promise<FlowKeyWithBacklog> {
  if (!(await updateFlowKeyLimits(ctx.db, ctx.caller.projectId, key, flowLimitChanges(request), ctx.now))) {
    throw notFound("Flow key");
  }
  return readCallersFlowKey(ctx, key);
}

/** Pauses a key: its jobs wait, their retries unspent, until it is resumed. Pausing a paused key changes nothing. */
export async function pauseCallersFlowKey(ctx: ActionContext, key: string): Promise<FlowKeyWithBacklog> {
  if (!(await pauseFlowKey(ctx.db, ctx.caller.projectId, key, ctx.now))) throw notFound("Flow key");
  return readCallersFlowKey(ctx, key);
}

/** Resumes a key; the jobs it held are due at once, and the engine's clock is told. */
export async function resumeCallersFlowKey(ctx: ActionContext, key: string): Promise<FlowKeyWithBacklog> {
  const { found, released } = await resumeFlowKey(ctx.db, ctx.caller.projectId, key, ctx.now);
  if (!found) throw notFound("Flow key");
  if (released > 0) announceDue(ctx, [ctx.now]);
  return readCallersFlowKey(ctx, key);
}
