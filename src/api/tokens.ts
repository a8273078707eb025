/**
 * Token management: a project's admin token creates, lists and revokes the project's tokens
 * (`/tokens`); the admin API does the same for any project, through the same actions.
 */
import { type Context, Hono } from "hono";
import { createToken, listTokens, revokeToken } from "../actions/project-keys";
import type { AppEnv } from "../http/env";
import { createTokenRequest, idParam } from "../wire/tokens";
import { toTokenJson } from "./render";
import { parseJsonBody } from "./validation";

/** `POST …/tokens`: a token for `projectId`; the answer is the only place its secret ever appears. */
export async function answerCreateToken(c: Context<AppEnv>, projectId: string) {
  const request = await parseJsonBody(c, createTokenRequest);
  const { row, token } = await createToken(c.var, projectId, request);
  return c.json({ ...toTokenJson(row), token }, 201);
}

/** `GET …/tokens`: `projectId`'s tokens, revoked ones included; never a hash or a secret. */
export async function answerTokens(c: Context<AppEnv>, projectId: string) {
  return c.json({ tokens: (await listTokens(c.var, projectId)).map(toTokenJson) });
}

/** `DELETE …/tokens/:id`: the next request with the token answers 401. */
export async function answerRevokeToken(c: Context<AppEnv>, projectId: string, tokenId: string | undefined) {
  const id = idParam.safeParse(tokenId);
  return c.json(toTokenJson(await revokeToken(c.var, projectId, id.success ? id.data : undefined)));
}

/** `/tokens`, behind requireToken and the admin scope: the caller's own project. */
export const tokensApi = new Hono<AppEnv>();

tokensApi.post("/", (c) => answerCreateToken(c, c.var.auth.projectId));
tokensApi.get("/", (c) => answerTokens(c, c.var.auth.projectId));
tokensApi.delete("/:id", (c) => answerRevokeToken(c, c.var.auth.projectId, c.req.param("id")));
