/**
 * Token management: a project's admin token creates, lists and revokes the project's tokens
 * (`/tokens`); the admin API and the dashboard do the same through the same functions.
 */
import { type Context, Hono } from "hono";
import type { z } from "zod";
import { issueApiToken, listApiTokens, revokeApiToken } from "../db/projects";
import type { ApiTokenRow } from "../db/schema";
import type { AppEnv } from "./context";
import { notFound } from "./errors";
import { createTokenRequest, idParam, toTokenJson } from "./token-schemas";
import { parseJsonBody } from "./validation";

/** Issues a token for `projectId`; `token`, its secret, exists only in this answer. */
export function issueProjectToken(
  c: Context<AppEnv>,
  projectId: string,
  request: z.output<typeof createTokenRequest>,
): Promise<{ row: ApiTokenRow; token: string }> {
  return issueApiToken(c.var.db, { projectId, ...request }, c.var.now);
}

/** Revokes one of `projectId`'s tokens: the next request with it is refused. Another project's id is not found. */
export async function revokeProjectToken(
  c: Context<AppEnv>,
  projectId: string,
  tokenId: string | undefined,
): Promise<ApiTokenRow> {
  const id = idParam.safeParse(tokenId);
  const row = id.success ? await revokeApiToken(c.var.db, projectId, id.data, c.var.now) : undefined;
  if (!row) throw notFound("Token");
  return row;
}

/** Creates a token for `projectId`; the answer is the only place its secret ever appears. */
export async function createToken(c: Context<AppEnv>, projectId: string) {
  const request = await parseJsonBody(c, createTokenRequest);
  const { row, token } = await issueProjectToken(c, projectId, request);
  return c.json({ ...toTokenJson(row), token }, 201);
}

/** Lists `projectId`'s tokens, revoked ones included; never a hash or a secret. */
export async function listTokens(c: Context<AppEnv>, projectId: string) {
  const rows = await listApiTokens(c.var.db, projectId);
  return c.json({ tokens: rows.map(toTokenJson) });
}

/** Revokes one of `projectId`'s tokens: the next request with it answers 401. */
export async function revokeToken(c: Context<AppEnv>, projectId: string, tokenId: string | undefined) {
  return c.json(toTokenJson(await revokeProjectToken(c, projectId, tokenId)));
}

/** `/tokens`, behind requireToken and the admin scope: the caller's own project. */
export const tokensApi = new Hono<AppEnv>();

tokensApi.post("/", (c) => createToken(c, c.var.auth.projectId));
tokensApi.get("/", (c) => listTokens(c, c.var.auth.projectId));
tokensApi.delete("/:id", (c) => revokeToken(c, c.var.auth.projectId, c.req.param("id")));
