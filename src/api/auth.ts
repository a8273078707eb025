/**
 * The API's checks of who is calling, as Hono middleware: a token in the URL is refused, a bearer
 * token is looked up on every request, scopes are required per method, ADMIN_TOKEN guards the
 * admin API, and requests are rate-limited per token. What a token and a scope mean is
 * src/actions/caller.ts.
 */
import type { Context, MiddlewareHandler } from "hono";
import {
  authenticateToken,
  hasScope,
  insufficientScope,
  lastUsedStaleBefore,
  type Scope,
  scopeFor,
} from "../actions/caller";
import type { Caller } from "../actions/context";
import { hashesEqual, hashToken, isWellFormedToken, lookupPrefix, TOKEN_PREFIX } from "../auth/tokens";
import type { PresentedToken } from "../db/jobs";
import { touchApiToken } from "../db/projects";
import { authFailure } from "../http/auth-failure";
import type { AppEnv } from "../http/env";
import { readSettings } from "../settings";
import { ApiError, notFound } from "../wire/errors";

/**
 * Query parameters that carry credentials in other APIs. A token in a URL ends up in access
 * logs, proxies and browser history, so Fliq refuses the request outright instead of ignoring
 * the parameter, and never authenticates from it.
 */
const CREDENTIAL_QUERY_PARAMETERS = [
  "token",
  "access_token",
  "auth_token",
  "api_token",
  "api_key",
  "apikey",
  "api-key",
  "auth",
  "authorization",
  "bearer",
  "secret",
  "fliq_token",
];

/** Refuses any request whose URL carries a credential-like parameter or a Fliq token (400 `token_in_query`). */
export const rejectTokenInQuery: MiddlewareHandler<AppEnv> = async (c, next) => {
  const { searchParams } = new URL(c.req.url);
  for (const [name, value] of searchParams) {
    if (CREDENTIAL_QUERY_PARAMETERS.includes(name.toLowerCase()) || value.includes(TOKEN_PREFIX)) {
      throw new ApiError(
        "token_in_query",
        "Tokens are accepted only in the Authorization header (`Authorization: Bearer fliq_sk_…`), never in the URL, " +
          "where logs keep them. If this was a real token, revoke it.",
      );
    }
  }
  await next();
};

/** The bearer credential of a request, or undefined. */
function bearerOf(header: string | undefined): string | undefined {
  return /^Bearer (\S+)$/i.exec(header ?? "")?.[1];
}

/**
 * The token the request presents, as stored (lookup prefix and hash), without looking it up.
 * A missing or malformed one answers 401 at once. Sets `tokenHash`, which the rate limit keys on.
 */
export async function presentedToken(c: Context<AppEnv>): Promise<PresentedToken> {
  const token = bearerOf(c.req.header("authorization")) ?? "";
  if (!isWellFormedToken(token)) throw await authFailure(c);
  const hash = await hashToken(token);
  c.set("tokenHash", hash);
  return { prefix: lookupPrefix(token), hash };
}

/**
 * The request's caller, from its token looked up now. Every failure (missing, malformed,
 * unknown, revoked) answers the same 401, so the response tells an attacker nothing, until the
 * client address has failed too often (429 `too_many_auth_failures`). The token is looked up
 * on every request, so a revocation takes effect on the next one.
 */
export async function requireCaller(c: Context<AppEnv>): Promise<Caller> {
  const token = bearerOf(c.req.header("authorization")) ?? "";
  const found = await authenticateToken(c.var.db, token);
  if (!found) throw await authFailure(c);
  c.set("tokenHash", await hashToken(token));
  const caller = { projectId: found.projectId, tokenId: found.tokenId, scopes: found.scopes };
  c.set("auth", caller);
  const { now } = c.var;
  const staleBefore = lastUsedStaleBefore(now);
  if (!found.lastUsedAt || found.lastUsedAt < staleBefore) {
    // After the response: bookkeeping never delays or fails the request it records.
    c.executionCtx.waitUntil(
      touchApiToken(c.var.db, found.tokenId, now, staleBefore).catch((error) => {
        console.error("recording token use failed", String(error));
      }),
    );
  }
  return caller;
}

/** Requires `Authorization: Bearer fliq_sk_…` naming a live token (see requireCaller). */
export const requireToken: MiddlewareHandler<AppEnv> = async (c, next) => {
  await requireCaller(c);
  await next();
};

/**
 * Requires the scope the request's method needs; a missing scope answers 403 (the token
 * itself was valid).
 */
export const requireScope: MiddlewareHandler<AppEnv> = async (c, next) => {
  assertScope(c, scopeFor(c.req.method));
  await next();
};

/** Throws 403 unless the caller's token grants what is needed. */
export function assertScope(c: Context<AppEnv>, needed: Scope): void {
  if (!hasScope(c.var.auth.scopes, needed)) throw insufficientScope(needed);
}

/** Requires the `admin` scope, whatever the method (token management). */
export const requireAdminScope: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.var.auth.scopes.includes("admin")) throw insufficientScope("admin");
  await next();
};

/**
 * Guards the admin API with the ADMIN_TOKEN Worker secret. Unset, the admin API does not
 * exist (404). The comparison hashes both sides first, so it takes the same time whatever the
 * length or content of the guess; a wrong or missing token answers the usual 401.
 */
export const requireAdminToken: MiddlewareHandler<AppEnv> = async (c, next) => {
  const { adminToken } = readSettings(c.env);
  if (!adminToken) throw notFound("Route");
  const given = bearerOf(c.req.header("authorization")) ?? "";
  const [givenHash, expectedHash] = await Promise.all([hashToken(given), hashToken(adminToken)]);
  if (!hashesEqual(givenHash, expectedHash)) throw await authFailure(c);
  c.set("auth", { projectId: "", tokenId: "admin", scopes: ["admin"] });
  c.set("tokenHash", givenHash);
  await next();
};

/** The rate limit's period, as configured in wrangler.toml `[[ratelimits]]`; a refused caller waits this long. */
export const RATE_LIMIT_PERIOD_SECONDS = 60;

/**
 * Limits requests per token with the Workers Rate Limiting binding: over the limit answers
 * 429 `rate_limited` with Retry-After. Without the binding nothing is limited. The binding
 * counts per Cloudflare location and is eventually consistent: a limit against abuse, not an
 * exact quota. Runs after the token is checked, so a failing token answers 401.
 */
export const rateLimitPerToken: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!(await withinRateLimit(c))) throw rateLimited(c);
  await next();
};

/**
 * The rate limit for a request whose token is checked later, inside its own statement (job
 * creation): over the limit, the token is looked up first, so a failing one still answers 401
 * and a live one 429, as everywhere else.
 */
export async function rateLimitBeforeLookup(c: Context<AppEnv>): Promise<void> {
  if (await withinRateLimit(c)) return;
  await requireCaller(c);
  throw rateLimited(c);
}

/**
 * Counts the request against its token's limit; false once the token has spent it. Keyed on the
 * token's hash (set by whatever read the token), which is known before the token is looked up
 * and, unlike its prefix, cannot be named without the token itself.
 */
async function withinRateLimit(c: Context<AppEnv>): Promise<boolean> {
  const limiter = c.env.RATE_LIMITER;
  if (!limiter) return true;
  const { success } = await limiter.limit({ key: `token:${c.var.tokenHash}` });
  return success;
}

function rateLimited(c: Context<AppEnv>): ApiError {
  c.header("Retry-After", String(RATE_LIMIT_PERIOD_SECONDS));
  return new ApiError(
    "rate_limited",
    `Too many requests with this token; try again in ${RATE_LIMIT_PERIOD_SECONDS} seconds.`,
  );
}
