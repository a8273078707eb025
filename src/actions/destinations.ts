/**
 * Destination health: what a caller can do with it. Each destination's outcomes are recorded
 * by the engine as it writes attempts (db/jobs.ts); here they are listed and read, a paused
 * destination is resumed by hand, and the project's alert URL is read and set.
 */
import { findAlertUrl, findDestination, listDestinations, resumeDestination, setAlertUrl } from "../db/destinations";
import type { DestinationRow } from "../db/schema";
import { notFound, validationFailed } from "../wire/errors";
import type { ActionContext } from "./context";
import { announceDue, targetViolations } from "./jobs";

/** Destinations listed at most: a project calls few hosts. */
export const DESTINATIONS_LISTED_MAX = 1000;

export function listCallersDestinations(ctx: ActionContext): Promise<DestinationRow[]> {
  return listDestinations(ctx.db, ctx.caller.projectId, DESTINATIONS_LISTED_MAX);
}

/** The caller's destination `id`; another project's is not found. */
export async function readCallersDestination(ctx: ActionContext, id: string): Promise<DestinationRow> {
  const destination = await findDestination(ctx.db, ctx.caller.projectId, id);
  if (!destination) throw notFound("Destination");
  return destination;
}

/** Resumes a paused destination; the jobs it held are due at once, and the engine's clock is told. */
export async function resumeCallersDestination(ctx: ActionContext, id: string): Promise<DestinationRow> {
  const resumed = await resumeDestination(ctx.db, ctx.caller.projectId, id, ctx.now);
  if (!resumed) throw notFound("Destination");
  announceDue(ctx, [ctx.now]);
  return resumed;
}

export function readCallersAlertUrl(ctx: ActionContext): Promise<string | null> {
  return findAlertUrl(ctx.db, ctx.caller.projectId);
}

/** Sets the project's alert URL, checked against the target policy as a job's url is (422 otherwise). */
export async function setCallersAlertUrl(ctx: ActionContext, url: string | null): Promise<string | null> {
  const violations = url ? targetViolations(ctx, { url }) : [];
  if (violations.length > 0) throw validationFailed(violations);
  await setAlertUrl(ctx.db, ctx.caller.projectId, url);
  return url;
}
