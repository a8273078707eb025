import type { MiddlewareHandler } from "hono";
import { hashesEqual, hashToken, isWellFormedToken, lookupPrefix } from "../auth/tokens";
import { findLiveTokensByPrefix } from "../db/projects";
import type { AppEnv } from "./context";
import { ApiError, unauthorized } from "./errors";

/**
 * Requires `Authorization: Bearer fliq_sk_…`. Every failure (missing, malformed, unknown,
 * revoked) answers the same 401, so the response tells an attacker nothing.
 */
export const requireToken: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header("authorization") ?? "";
  const match = /^Bearer (\S+)$/i.exec(header);
  const token = match?.[1];
  if (!token || !isWellFormedToken(token)) throw unauthorized();
  const hash = await hashToken(token);
  const candidates = await findLiveTokensByPrefix(c.var.db, lookupPrefix(token));
  const found = candidates.find((row) => hashesEqual(row.tokenHash, hash));
  if (!found) throw unauthorized();
  c.set("auth", { projectId: found.projectId, tokenId: found.id, scopes: found.scopes });
  await next();
};

/** Token scopes: `read` to look, `write` to create and change jobs, `admin` to manage the project. */
export type Scope = "read" | "write" | "admin";

/** What a request needs: reads need `read`, anything that changes jobs needs `write`. */
export function scopeFor(method: string): Scope {
  return method === "GET" || method === "HEAD" ? "read" : "write";
}

/**
 * Requires the scope the request's method needs. An `admin` token may do anything and a
 * `write` token may also read; a missing scope answers 403 (the token itself was valid).
 */
export const requireScope: MiddlewareHandler<AppEnv> = async (c, next) => {
  const needed = scopeFor(c.req.method);
  const { scopes } = c.var.auth;
  const granted =
    scopes.includes("admin") || scopes.includes(needed) || (needed === "read" && scopes.includes("write"));
  if (!granted) {
    throw new ApiError(403, "insufficient_scope", `This token lacks the "${needed}" scope this request needs.`);
  }
  await next();
};
