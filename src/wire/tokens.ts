/**
 * The wire format of tokens, projects and signing secrets (the /tokens and /admin APIs).
 * A token's hash is never part of any answer; its clear secret only of the one that creates it.
 */
import { z } from "zod";

export const TOKEN_SCOPES = ["read", "write", "admin"] as const;

const name = z
  .string()
  .min(1)
  .max(100)
  .refine((text) => text.isWellFormed() && ![...text].some((char) => char < " " || char === "\u007f"), {
    message: "must be printable text, without control characters",
  });

/** `POST /tokens`: a name to recognise it by, and its scopes (default read and write). */
export const createTokenRequest = z.strictObject({
  name,
  scopes: z
    .array(z.enum(TOKEN_SCOPES))
    .min(1)
    .default(["read", "write"])
    .transform((scopes) => [...new Set(scopes)]),
});

/** `POST /admin/projects`. */
export const createProjectRequest = z.strictObject({ name });

/** `POST /admin/projects/:id/signing-secrets/rotate`: how long older secrets keep signing. */
export const rotateSecretRequest = z.strictObject({
  grace_hours: z
    .number()
    .min(0)
    .max(24 * 30)
    .default(24),
});

/** Ids in paths are UUIDs; anything else names nothing. */
export const idParam = z.uuid();

const isoDateTime = z.iso.datetime({ offset: true });

/** A token as every answer shows it. */
export const tokenResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  scopes: z.array(z.enum(TOKEN_SCOPES)),
  /** The token's first characters, to recognise it; never enough to use it. */
  prefix: z.string(),
  created_at: isoDateTime,
  last_used_at: isoDateTime.nullable(),
  revoked_at: isoDateTime.nullable(),
});

/** The answer to creating a token: the only time its secret is shown. */
export const createdTokenResponse = tokenResponse.extend({ token: z.string() });

export const projectResponse = z.object({ id: z.uuid(), name: z.string(), created_at: isoDateTime });

/** A live signing secret as `GET /signing-secrets` shows it: receivers verify callbacks with it until `expires_at`. */
export const signingSecretResponse = z.object({
  /** The `whsec_…` secret itself: receivers need it to verify `webhook-signature`. */
  secret: z.string(),
  created_at: isoDateTime,
  /** When it stops signing (the end of a rotation's grace period); null for the current secret. */
  expires_at: isoDateTime.nullable(),
});

/** `GET …/tokens`: the tokens, newest first, revoked ones included. */
export const tokenListResponse = z.object({ tokens: z.array(tokenResponse) });

/** `GET /admin/projects`. */
export const projectListResponse = z.object({ projects: z.array(projectResponse) });

/** `POST /admin/projects`: the project, its first admin token (its secret shown this once) and its signing secret. */
export const createdProjectResponse = z.object({
  project: projectResponse,
  token: createdTokenResponse,
  signing_secret: z.string(),
});

/** `GET …/signing-secrets`: the live secrets, newest first. */
export const signingSecretListResponse = z.object({ signing_secrets: z.array(signingSecretResponse) });

/** `POST …/signing-secrets/rotate`: the new secret, and when the older ones stop signing. */
export const rotationResponse = z.object({ signing_secret: z.string(), previous_secrets_expire_at: isoDateTime });
