/**
 * A project's signing secrets: the `whsec_…` keys its callbacks are signed with. A project's
 * admin token lists and rotates them (`/signing-secrets`); the admin API and the dashboard do
 * the same through the same functions.
 */
import { type Context, Hono } from "hono";
import type { z } from "zod";
import { liveSigningSecretRows, rotateSigningSecret } from "../db/projects";
import type { SigningSecretRow } from "../db/schema";
import type { AppEnv } from "./context";
import { type rotatedSecretResponse, rotateSecretRequest, toSigningSecretJson } from "./token-schemas";
import { parseJsonBody } from "./validation";

const HOUR_MS = 3_600_000;

/** The secrets that sign `projectId`'s callbacks now, newest first (the first is the current one). */
export function projectSigningSecrets(c: Context<AppEnv>, projectId: string): Promise<SigningSecretRow[]> {
  return liveSigningSecretRows(c.var.db, projectId, c.var.now);
}

/**
 * Starts a rotation: a new current secret, while the older live ones keep signing beside it
 * for `graceHours` (0: they stop at once). Receivers can move to the new secret any time within.
 */
export async function rotateProjectSigningSecret(
  c: Context<AppEnv>,
  projectId: string,
  graceHours: number,
): Promise<{ secret: SigningSecretRow; previousSecretsExpireAt: Date }> {
  const { now } = c.var;
  const graceMs = Math.round(graceHours * HOUR_MS);
  const secret = await rotateSigningSecret(c.var.db, projectId, now, graceMs);
  return { secret, previousSecretsExpireAt: new Date(now.getTime() + graceMs) };
}

/** Rotates `projectId`'s secret from a JSON `{grace_hours}` body; answers 201 with the new secret. */
export async function rotateSigningSecretFromJson(c: Context<AppEnv>, projectId: string) {
  const { grace_hours: graceHours } = await parseJsonBody(c, rotateSecretRequest);
  const rotated = await rotateProjectSigningSecret(c, projectId, graceHours);
  const answer: z.input<typeof rotatedSecretResponse> = {
    signing_secret: rotated.secret.secret,
    previous_secrets_expire_at: rotated.previousSecretsExpireAt.toISOString(),
  };
  return c.json(answer, 201);
}

/** `/signing-secrets`, behind requireToken and the admin scope: the caller's own project. */
export const signingSecretsApi = new Hono<AppEnv>();

signingSecretsApi.get("/", async (c) =>
  c.json({ signing_secrets: (await projectSigningSecrets(c, c.var.auth.projectId)).map(toSigningSecretJson) }),
);
signingSecretsApi.post("/rotate", (c) => rotateSigningSecretFromJson(c, c.var.auth.projectId));
