/**
 * A project's keys: its API tokens and the secrets that sign its callbacks. Token management
 * and rotation take the project explicitly, since a project's admin token acts on its own
 * project and the admin API (ADMIN_TOKEN) on any; the API, the admin API and the dashboard
 * all act through these.
 */
import type { z } from "zod";
import type { Database } from "../db/client";
import {
  issueApiToken,
  listApiTokens,
  liveSigningSecretRows,
  revokeApiToken,
  rotateSigningSecret,
} from "../db/projects";
import type { ApiTokenRow } from "../db/schema";
import { notFound } from "../wire/errors";
import type { createTokenRequest } from "../wire/tokens";

const HOUR_MS = 3_600_000;

/** What project-key actions need: the database and the request's clock. */
export type KeyContext = { db: Database; now: Date };

/** Creates a token for `projectId`; the answer is the only place its secret ever appears. */
export function createToken(ctx: KeyContext, projectId: string, request: z.output<typeof createTokenRequest>) {
  return issueApiToken(ctx.db, { projectId, ...request }, ctx.now);
}

/** `projectId`'s tokens, revoked ones included; never a hash or a secret. */
export function listTokens(ctx: KeyContext, projectId: string): Promise<ApiTokenRow[]> {
  return listApiTokens(ctx.db, projectId);
}

/** Revokes one of `projectId`'s tokens (`tokenId` a UUID, or undefined when it was not one): the next request with it is refused. */
export async function revokeToken(
  ctx: KeyContext,
  projectId: string,
  tokenId: string | undefined,
): Promise<ApiTokenRow> {
  const row = tokenId === undefined ? undefined : await revokeApiToken(ctx.db, projectId, tokenId, ctx.now);
  if (!row) throw notFound("Token");
  return row;
}

/** Starts a rotation: a new secret signs from now on, beside the older ones until their grace ends. */
export async function startRotation(ctx: KeyContext, projectId: string, graceHours: number) {
  const rotated = await rotateSigningSecret(ctx.db, projectId, ctx.now, graceHours * HOUR_MS);
  return {
    signing_secret: rotated.secret,
    previous_secrets_expire_at: new Date(ctx.now.getTime() + graceHours * HOUR_MS).toISOString(),
  };
}

/**
 * `projectId`'s live secrets, newest first, each with when it stops signing (null: until the next
 * rotation), so an admin can see a rotation under way.
 */
export function listSigningSecrets(ctx: KeyContext, projectId: string) {
  return liveSigningSecretRows(ctx.db, projectId, ctx.now);
}
