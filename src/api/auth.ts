import type { MiddlewareHandler } from "hono";
import { hashesEqual, hashToken, isWellFormedToken, lookupPrefix } from "../auth/tokens";
import { findLiveTokensByPrefix } from "../db/projects";
import type { AppEnv } from "./context";
import { unauthorized } from "./errors";

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
