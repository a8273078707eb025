/**
 * Token management: a project's admin token creates, lists and revokes the project's tokens
 * (`/tokens`); the admin API does the same for any project, through the same functions.
 */
import { type Context, Hono } from "hono";
import { issueApiToken, listApiTokens, revokeApiToken } from "../db/projects";
import { notFound } from "../wire/errors";
import { createTokenRequest, idParam } from "../wire/tokens";
import type { AppEnv } from "./context";
import { toTokenJson } from "./render";
import { parseJsonBody } from "./validation";

/** Creates a token for `projectId`; the answer is the only place its secret ever appears. */
export async function createToken(c: Context<AppEnv>, projectId: string) {
  const request = await parseJsonBody(c, createTokenRequest);
  const { row, token } = await issueApiToken(c.var.db, { projectId, ...request }, c.var.now);
  return c.json({ ...toTokenJson(row), token }, 201);
}

/** Lists `projectId`'s tokens, revoked ones included; never a hash or a secret. */
export async function listTokens(c: Context<AppEnv>, projectId: string) {
  const rows = await listApiTokens(c.var.db, projectId);
  return c.json({ tokens: rows.map(toTokenJson) });
}

/** Revokes one of `projectId`'s tokens: the next request with it answers 401. */
export async function revokeToken(c: Context<AppEnv>, projectId: string, tokenId: string | undefined) {
  const id = idParam.safeParse(tokenId);
  const row = id.success ? await revokeApiToken(c.var.db, projectId, id.data, c.var.now) : undefined;
  if (!row) throw notFound("Token");
  return c.json(toTokenJson(row));
}

/** `/tokens`, behind requireToken and the admin scope: the caller's own project. */
export const tokensApi = new Hono<AppEnv>();

tokensApi.post("/", (c) => createToken(c, c.var.auth.projectId));
tokensApi.get("/", (c) => listTokens(c, c.var.auth.projectId));
tokensApi.delete("/:id", (c) => revokeToken(c, c.var.auth.projectId, c.req.param("id")));
