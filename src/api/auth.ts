import type { MiddlewareHandler } from "hono";
import { hashesEqual, hashToken, isWellFormedToken, lookupPrefix } from "../auth/tokens";
import type { Database } from "../db/client";
import { findLiveTokensByPrefix } from "../db/projects";
import type { AppEnv, Caller } from "./context";
import { ApiError, unauthorized } from "./errors";

/**
 * Who a token belongs to, or undefined when it is malformed, unknown or revoked. The one
 * check behind the API's bearer tokens and the dashboard's session, so a revoked token
 * stops working everywhere at once.
 */
export async function authenticateToken(db: Database, token: string): Promise<Caller | undefined> {
  if (!isWellFormedToken(token)) return undefined;
  const hash = await hashToken(token);
  const candidates = await findLiveTokensByPrefix(db, lookupPrefix(token));
  const found = candidates.find((row) => hashesEqual(row.tokenHash, hash));
  return found && { projectId: found.projectId, tokenId: found.id, scopes: found.scopes };
}

/**
 * Requires `Authorization: Bearer fliq_sk_…`. Every failure (missing, malformed, unknown,
 * revoked) answers the same 401, so the response tells an attacker nothing.
 */
export const requireToken: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header("authorization") ?? "";
  const match = /^Bearer (\S+)$/i.exec(header);
  const token = match?.[1];
  const caller = token ? await authenticateToken(c.var.db, token) : undefined;
  if (!caller) throw unauthorized();
  c.set("auth", caller);
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

/**
 * Requires the scope the request's method needs; a missing scope answers 403 (the token
 * itself was valid).
 */
export const requireScope: MiddlewareHandler<AppEnv> = async (c, next) => {
  const needed = scopeFor(c.req.method);
  if (!hasScope(c.var.auth.scopes, needed)) {
    throw new ApiError(403, "insufficient_scope", `This token lacks the "${needed}" scope this request needs.`);
  }
  await next();
};
