/**
 * Token management: a project's admin token creates, lists and revokes the project's tokens
 * (`/tokens`); the admin API does the same for any project, through the same actions and answers.
 */
import type { Context } from "hono";
import { createToken, listTokens, revokeToken } from "../actions/project-keys";
import type { AppEnv } from "../http/env";
import { createdTokenResponse, createTokenRequest, idParam, tokenListResponse, tokenResponse } from "../wire/tokens";
import { COMMON_ERRORS } from "./openapi";
import { toTokenJson } from "./render";
import { ApiRoutes } from "./routes";
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

/** What the three answers above mean, for each route that gives them. */
export const tokenAnswers = {
  created: { description: "The token; `token` is its secret, shown this once", body: createdTokenResponse },
  list: {
    description: "The tokens, newest first, revoked ones included; never a hash or a secret",
    body: tokenListResponse,
  },
  revoked: { description: "The revoked token; the next request with it answers 401", body: tokenResponse },
};

/** `/tokens`, behind requireToken and the admin scope: the caller's own project. */
export const tokenRoutes = new ApiRoutes({ basePath: "/tokens", tag: "Tokens", security: "bearer" });

const notAdmin = "The token lacks the admin scope";

tokenRoutes.declare(
  {
    method: "post",
    path: "/",
    summary: "Create a token for this project (admin scope)",
    body: createTokenRequest,
    answers: { 201: tokenAnswers.created },
    errors: { ...COMMON_ERRORS, 403: notAdmin },
  },
  (c) => answerCreateToken(c, c.var.auth.projectId),
);

tokenRoutes.declare(
  {
    method: "get",
    path: "/",
    summary: "List this project's tokens (admin scope)",
    answers: { 200: tokenAnswers.list },
    errors: { ...COMMON_ERRORS, 403: notAdmin },
  },
  (c) => answerTokens(c, c.var.auth.projectId),
);

tokenRoutes.declare(
  {
    method: "delete",
    path: "/:id",
    summary: "Revoke a token (admin scope); revoking it again changes nothing",
    params: { id: idParam },
    answers: { 200: tokenAnswers.revoked },
    errors: { ...COMMON_ERRORS, 403: notAdmin, 404: "No such token in this project" },
  },
  (c) => answerRevokeToken(c, c.var.auth.projectId, c.req.param("id")),
);
