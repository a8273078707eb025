import type { MiddlewareHandler } from "hono";
import { hashesEqual, hashToken, isWellFormedToken, lookupPrefix, TOKEN_PREFIX } from "../auth/tokens";
import type { Database } from "../db/client";
import { findLiveTokensByPrefix, touchApiToken } from "../db/projects";
import { readSettings } from "../settings";
import type { AppEnv, Caller } from "./context";
import { ApiError, notFound, unauthorized } from "./errors";

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
 * check behind the API's bearer tokens and the dashboard's session, so a revoked token
 * stops working everywhere at once.
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

/**
 * Requires `Authorization: Bearer fliq_sk_…`. Every failure (missing, malformed, unknown,
 * revoked) answers the same 401, so the response tells an attacker nothing. The token is
 * looked up on every request, so a revocation takes effect on the next one.
 */
export const requireToken: MiddlewareHandler<AppEnv> = async (c, next) => {
  const found = await authenticateToken(c.var.db, bearerOf(c.req.header("authorization")) ?? "");
  if (!found) throw unauthorized();
  c.set("auth", { projectId: found.projectId, tokenId: found.tokenId, scopes: found.scopes });
  const { now } = c.var;
  const staleBefore = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
  if (!found.lastUsedAt || found.lastUsedAt < staleBefore) {
    // After the response: bookkeeping never delays or fails the request it records.
    c.executionCtx.waitUntil(
      touchApiToken(c.var.db, found.tokenId, now, staleBefore).catch((error) => {
        console.error("recording token use failed", String(error));
      }),
    );
  }
  await next();
};

/** Token scopes: `read` to look, `write` to create and change jobs, `admin` to manage the project. */
export type Scope = "read" | "write" | "admin";

/** What a request needs: reads need `read`, anything that changes jobs needs `write`. */
export function scopeFor(method: string): Scope {
  return method === "GET" || method === "HEAD" ? "read" : "write";
}

/** Whether scopes grant what is needed: `admin` grants anything, and `write` also grants `read`. */
export function hasScope(scopes: string[], needed: Scope): boolean {
  return scopes.includes("admin") || scopes.includes(needed) || (needed === "read" && scopes.includes("write"));
}

const insufficientScope = (needed: Scope) =>
  new ApiError("insufficient_scope", `This token lacks the "${needed}" scope this request needs.`);

/**
 * Requires the scope the request's method needs; a missing scope answers 403 (the token
 * itself was valid).
 */
export const requireScope: MiddlewareHandler<AppEnv> = async (c, next) => {
  const needed = scopeFor(c.req.method);
  if (!hasScope(c.var.auth.scopes, needed)) throw insufficientScope(needed);
  await next();
};

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
  if (!hashesEqual(givenHash, expectedHash)) throw unauthorized();
  c.set("auth", { projectId: "", tokenId: "admin", scopes: ["admin"] });
  await next();
};

/** The rate limit's period, as configured in wrangler.toml `[[ratelimits]]`; a refused caller waits this long. */
export const RATE_LIMIT_PERIOD_SECONDS = 60;

/**
 * Limits requests per token with the Workers Rate Limiting binding: over the limit answers
 * 429 `rate_limited` with Retry-After. Without the binding nothing is limited. The binding
 * counts per Cloudflare location and is eventually consistent: a limit against abuse, not an
 * exact quota.
 */
export const rateLimitPerToken: MiddlewareHandler<AppEnv> = async (c, next) => {
  const limiter = c.env.RATE_LIMITER;
  if (limiter) {
    const { success } = await limiter.limit({ key: `token:${c.var.auth.tokenId}` });
    if (!success) {
      c.header("Retry-After", String(RATE_LIMIT_PERIOD_SECONDS));
      throw new ApiError(
        "rate_limited",
        `Too many requests with this token; try again in ${RATE_LIMIT_PERIOD_SECONDS} seconds.`,
      );
    }
  }
  await next();
};
