/**
 * Signing secrets: a project's admin token lists the secrets that sign its callbacks and starts
 * a rotation (`/signing-secrets`); the admin API does the same for any project, through the same
 * functions. Receivers need the secrets to verify callbacks, so an admin may read them.
 */
import { type Context, Hono } from "hono";
import type { Database } from "../db/client";
import { liveSigningSecretRows, rotateSigningSecret } from "../db/projects";
import { rotateSecretRequest } from "../wire/tokens";
import type { AppEnv } from "./context";
import { toSigningSecretJson } from "./render";
import { parseJsonBody } from "./validation";

const HOUR_MS = 3_600_000;

/** Starts a rotation: a new secret signs from now on, beside the older ones until their grace ends. */
export async function startRotation(db: Database, projectId: string, now: Date, graceHours: number) {
  const rotated = await rotateSigningSecret(db, projectId, now, graceHours * HOUR_MS);
  return {
    signing_secret: rotated.secret,
    previous_secrets_expire_at: new Date(now.getTime() + graceHours * HOUR_MS).toISOString(),
  };
}

/**
 * `projectId`'s live secrets, newest first, each with when it stops signing (null: until the next
 * rotation), so an admin can see a rotation under way.
 */
export async function listSigningSecrets(c: Context<AppEnv>, projectId: string) {
  const rows = await liveSigningSecretRows(c.var.db, projectId, c.var.now);
  return c.json({ signing_secrets: rows.map(toSigningSecretJson) });
}

/** `POST …/rotate` with `grace_hours` (default 24): the answer is the one place the new secret is shown. */
export async function rotateSigningSecretFor(c: Context<AppEnv>, projectId: string) {
  const { grace_hours: graceHours } = await parseJsonBody(c, rotateSecretRequest);
  return c.json(await startRotation(c.var.db, projectId, c.var.now, graceHours), 201);
}

/** `/signing-secrets`, behind requireToken and the admin scope: the caller's own project. */
export const signingSecretsApi = new Hono<AppEnv>();

signingSecretsApi.get("/", (c) => listSigningSecrets(c, c.var.auth.projectId));
signingSecretsApi.post("/rotate", (c) => rotateSigningSecretFor(c, c.var.auth.projectId));
