/**
 * Signing secrets: a project's admin token lists the secrets that sign its callbacks and starts
 * a rotation (`/signing-secrets`); the admin API does the same for any project, through the same
 * actions. Receivers need the secrets to verify callbacks, so an admin may read them.
 */
import { type Context, Hono } from "hono";
import { listSigningSecrets, startRotation } from "../actions/project-keys";
import type { AppEnv } from "../http/env";
import { rotateSecretRequest } from "../wire/tokens";
import { toSigningSecretJson } from "./render";
import { parseJsonBody } from "./validation";

/** `GET …/signing-secrets`: `projectId`'s live secrets, newest first, each with when it stops signing. */
export async function answerSigningSecrets(c: Context<AppEnv>, projectId: string) {
  const rows = await listSigningSecrets(c.var, projectId);
  return c.json({ signing_secrets: rows.map(toSigningSecretJson) });
}

/** `POST …/rotate` with `grace_hours` (default 24): the answer is the one place the new secret is shown. */
export async function answerRotation(c: Context<AppEnv>, projectId: string) {
  const { grace_hours: graceHours } = await parseJsonBody(c, rotateSecretRequest);
  return c.json(await startRotation(c.var, projectId, graceHours), 201);
}

/** `/signing-secrets`, behind requireToken and the admin scope: the caller's own project. */
export const signingSecretsApi = new Hono<AppEnv>();

signingSecretsApi.get("/", (c) => answerSigningSecrets(c, c.var.auth.projectId));
signingSecretsApi.post("/rotate", (c) => answerRotation(c, c.var.auth.projectId));
