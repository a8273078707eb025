/**
 * Who is calling, framework-free: a token's owner and scopes, what a scope grants, and the count
 * of failed authentications per client address. The API's bearer tokens and the dashboard's
 * sign-in both go through these, so a revoked token stops working everywhere at once.
 */
import { hashesEqual, hashToken, isWellFormedToken, lookupPrefix } from "../auth/tokens";
import type { Database } from "../db/client";
import { findLiveTokensByPrefix } from "../db/projects";
import { parseIpv6 } from "../jobs/callback-target";
import type { Bindings } from "../settings";
import { ApiError } from "../wire/errors";
import type { Caller } from "./context";

/** last_used_at is written at most once per this interval per token. */
export const LAST_USED_RESOLUTION_MS = 60_000;

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

/** Before this instant, a token's last_used_at is stale and the request writes it again. */
export function lastUsedStaleBefore(now: Date): Date {
  return new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
}

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
