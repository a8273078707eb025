import type { Context, MiddlewareHandler } from "hono";
import { hashesEqual, hashToken, isWellFormedToken, lookupPrefix, TOKEN_PREFIX } from "../auth/tokens";
import type { Database } from "../db/client";
import type { PresentedToken } from "../db/jobs";
import { findLiveTokensByPrefix, touchApiToken } from "../db/projects";
import { parseIpv6 } from "../jobs/callback-target";
import { type Bindings, readSettings } from "../settings";
import { ApiError, notFound, unauthorized } from "../wire/errors";
import type { AppEnv, Caller } from "./context";

/** last_used_at is written at most once per this interval per token. */
export const LAST_USED_RESOLUTION_MS = 60_000;

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
 * Who a token belongs to, or undefined when it is malformed, unknown or revoked. The one
 * check behind the API's bearer tokens and the dashboard's sign-in (a dashboard session then
 * checks its token is still unrevoked on every request), so a revoked token stops working
 * everywhere at once.
 */
export async function authenticateToken(
  db: Database,
  token: string,
): Promise<(Caller & { lastUsedAt: Date | null }) | undefined> {
  if (!isWellFormedToken(token)) return undefined;
  const hash = await hashToken(token);
  const candidates = await findLiveTokensByPrefix(db, lookupPrefix(token));
  const found = candidates.find((row) => hashesEqual(row.tokenHash, hash));
  return found && { projectId: found.projectId, tokenId: found.id, scopes: found.scopes, lastUsedAt: found.lastUsedAt };
}

/** The failed-authentication limit's period, as configured in wrangler.toml; a refused client waits this long. */
export const AUTH_FAILURE_PERIOD_SECONDS = 60;

/**
 * The client address failures are counted by. `CF-Connecting-IP` is set by Cloudflare on every
 * request (a client cannot forge it through Cloudflare); an IPv6 address counts by its /64,
 * the network one subscriber gets, so walking through its addresses gains nothing. Without
 * the header (local development, tests), every client shares one key; headers a client can
 * set, such as X-Forwarded-For, are never trusted.
 */
export function clientAddressKey(request: Request): string {
  const address = request.headers.get("cf-connecting-ip")?.trim().toLowerCase();
  if (!address) return "local";
  const groups = address.includes(":") ? parseIpv6(address) : undefined;
  return groups
    ? `${groups
        .slice(0, 4)
        .map((group) => group.toString(16))
        .join(":")}::/64`
    : address;
}

/**
 * Counts one failed authentication (a token or ADMIN_TOKEN refused, a dashboard sign-in
 * refused) of the request's client address, and answers whether that address is now over its
 * limit. Only failures are counted, and only failures are refused by it: a valid token is
 * never slowed, whoever else fails from anywhere. Without the binding nothing is limited.
 */
export async function countAuthFailure(
  env: Pick<Bindings, "AUTH_FAILURE_LIMITER">,
  request: Request,
): Promise<boolean> {
  const limiter = env.AUTH_FAILURE_LIMITER;
  if (!limiter) return false;
  const { success } = await limiter.limit({ key: `auth-failure:${clientAddressKey(request)}` });
  return !success;
}

/** The answer to a failed authentication: the usual 401, or 429 with Retry-After once the client has failed too often. */
export async function authFailure(c: Context<AppEnv>): Promise<ApiError> {
  if (!(await countAuthFailure(c.env, c.req.raw))) return unauthorized();
  c.header("Retry-After", String(AUTH_FAILURE_PERIOD_SECONDS));
  return new ApiError(
    "too_many_auth_failures",
    `Too many failed authentications from your address; try again in ${AUTH_FAILURE_PERIOD_SECONDS} seconds.`,
  );
}

/** Before this instant, a token's last_used_at is stale and the request writes it again. */
export function lastUsedStaleBefore(now: Date): Date {
  return new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
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

/** Token scopes: `read` to look, `write` to create and change jobs, `admin` to manage the project. */
export type Scope = "read" | "write" | "admin";

/** What a request needs: reads need `read`, anything that changes jobs needs `write`. */
export function scopeFor(method: string): Scope {
  return method === "GET" || method === "HEAD" ? "read" : "write";
}

/** The scopes that grant what is needed: `admin` grants anything, and `write` also grants `read`. */
export function scopesGranting(needed: Scope): Scope[] {
  return needed === "read" ? ["read", "write", "admin"] : [needed, "admin"];
}

/** Whether scopes grant what is needed (see scopesGranting). */
export function hasScope(scopes: string[], needed: Scope): boolean {
  return scopesGranting(needed).some((scope) => scopes.includes(scope));
}

export const insufficientScope = (needed: Scope) =>
  new ApiError("insufficient_scope", `This token lacks the "${needed}" scope this request needs.`);

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
