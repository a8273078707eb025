/**
 * Signing secrets: a project's admin token lists the secrets that sign its callbacks and starts
 * a rotation (`/signing-secrets`); the admin API does the same for any project, through the same
 * actions and answers. Receivers need the secrets to verify callbacks, so an admin may read them.
 */
import type { Context } from "hono";
import { listSigningSecrets, startRotation } from "../actions/project-keys";
import type { AppEnv } from "../http/env";
import { rotateSecretRequest, rotationResponse, signingSecretListResponse } from "../wire/tokens";
import { COMMON_ERRORS } from "./openapi";
import { toSigningSecretJson } from "./render";
import { ApiRoutes } from "./routes";
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

/** What the two answers above mean, for each route that gives them. */
export const signingSecretAnswers = {
  list: {
    description: "The live secrets, newest first: the current one, then any older one signing until its expires_at",
    body: signingSecretListResponse,
  },
  rotated: { description: "The new secret, and when the older ones stop signing", body: rotationResponse },
};

/** `/signing-secrets`, behind requireToken and the admin scope: the caller's own project. */
export const signingSecretRoutes = new ApiRoutes({
  basePath: "/signing-secrets",
  tag: "Signing secrets",
  security: "bearer",
});

const notAdmin = "The token lacks the admin scope";

signingSecretRoutes.declare(
  {
    method: "get",
    path: "/",
    summary: "The secrets signing this project's callbacks now, newest first (admin scope)",
    answers: { 200: signingSecretAnswers.list },
    errors: { ...COMMON_ERRORS, 403: notAdmin },
  },
  (c) => answerSigningSecrets(c, c.var.auth.projectId),
);

signingSecretRoutes.declare(
  {
    method: "post",
    path: "/rotate",
    summary: "Start a signing secret rotation (admin scope); older secrets keep signing for grace_hours",
    body: rotateSecretRequest,
    answers: { 201: signingSecretAnswers.rotated },
    errors: { ...COMMON_ERRORS, 403: notAdmin },
  },
  (c) => answerRotation(c, c.var.auth.projectId),
);
