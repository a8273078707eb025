/**
 * The admin API, for whoever runs this Fliq: projects, their tokens and their signing
 * secrets, guarded by the ADMIN_TOKEN Worker secret (see requireAdminToken). It does what the
 * admin CLI (scripts/fliq.ts) does, through the same database functions.
 */
import type { Context } from "hono";
import { findProject, insertProject, issueApiToken, listProjects, liveSigningSecrets } from "../db/projects";
import type { AppEnv } from "../http/env";
import { notFound } from "../wire/errors";
import {
  createdProjectResponse,
  createProjectRequest,
  createTokenRequest,
  idParam,
  projectListResponse,
  rotateSecretRequest,
} from "../wire/tokens";
import { COMMON_ERRORS } from "./openapi";
import { toProjectJson, toTokenJson } from "./render";
import { ApiRoutes } from "./routes";
import { answerRotation, answerSigningSecrets, signingSecretAnswers } from "./signing-secrets";
import { answerCreateToken, answerRevokeToken, answerTokens, tokenAnswers } from "./tokens";
import { parseJsonBody } from "./validation";

/** The admin API, mounted behind requireAdminToken. */
export const adminRoutes = new ApiRoutes({ basePath: "/admin", tag: "Admin", security: "adminBearer" });

/** The project named in the path; an unknown or malformed id answers 404. */
async function projectIdOf(c: Context<AppEnv>): Promise<string> {
  const id = idParam.safeParse(c.req.param("id"));
  if (!id.success || !(await findProject(c.var.db, id.data))) throw notFound("Project");
  return id.data;
}

const projectParams = { id: idParam };
const noProject = "No such project";

adminRoutes.declare(
  {
    method: "get",
    path: "/projects",
    summary: "List every project",
    answers: { 200: { description: "The projects, oldest first", body: projectListResponse } },
    errors: COMMON_ERRORS,
  },
  async (c) => c.json({ projects: (await listProjects(c.var.db)).map(toProjectJson) }),
);

/** A project with its first token (every scope, shown once) and its signing secret. */
adminRoutes.declare(
  {
    method: "post",
    path: "/projects",
    summary: "Create a project with its first admin token and signing secret",
    body: createProjectRequest,
    answers: {
      201: {
        description: "The project, its admin token (secret shown this once) and its signing secret",
        body: createdProjectResponse,
      },
    },
    errors: COMMON_ERRORS,
  },
  async (c) => {
    const { name } = await parseJsonBody(c, createProjectRequest);
    const { db, now } = c.var;
    const project = await insertProject(db, name, now);
    const { row, token } = await issueApiToken(
      db,
      { projectId: project.id, name: "admin", scopes: ["read", "write", "admin"] },
      now,
    );
    const [signingSecret] = await liveSigningSecrets(db, project.id, now);
    return c.json(
      { project: toProjectJson(project), token: { ...toTokenJson(row), token }, signing_secret: signingSecret },
      201,
    );
  },
);

adminRoutes.declare(
  {
    method: "get",
    path: "/projects/:id/tokens",
    summary: "List a project's tokens",
    params: projectParams,
    answers: { 200: tokenAnswers.list },
    errors: { ...COMMON_ERRORS, 404: noProject },
  },
  async (c) => answerTokens(c, await projectIdOf(c)),
);

adminRoutes.declare(
  {
    method: "post",
    path: "/projects/:id/tokens",
    summary: "Create a token for a project",
    params: projectParams,
    body: createTokenRequest,
    answers: { 201: tokenAnswers.created },
    errors: { ...COMMON_ERRORS, 404: noProject },
  },
  async (c) => answerCreateToken(c, await projectIdOf(c)),
);

adminRoutes.declare(
  {
    method: "delete",
    path: "/projects/:id/tokens/:tokenId",
    summary: "Revoke a project's token",
    params: { ...projectParams, tokenId: idParam },
    answers: { 200: tokenAnswers.revoked },
    errors: { ...COMMON_ERRORS, 404: "No such project or token" },
  },
  async (c) => answerRevokeToken(c, await projectIdOf(c), c.req.param("tokenId")),
);

/** The secrets that sign the project's callbacks now, newest first (receivers verify with them). */
adminRoutes.declare(
  {
    method: "get",
    path: "/projects/:id/signing-secrets",
    summary: "The secrets signing a project's callbacks now, newest first",
    params: projectParams,
    answers: { 200: signingSecretAnswers.list },
    errors: { ...COMMON_ERRORS, 404: noProject },
  },
  async (c) => answerSigningSecrets(c, await projectIdOf(c)),
);

/** A new signing secret; older ones keep signing beside it for `grace_hours`. */
adminRoutes.declare(
  {
    method: "post",
    path: "/projects/:id/signing-secrets/rotate",
    summary: "Start a signing secret rotation; older secrets keep signing for grace_hours",
    params: projectParams,
    body: rotateSecretRequest,
    answers: { 201: signingSecretAnswers.rotated },
    errors: { ...COMMON_ERRORS, 404: noProject },
  },
  async (c) => answerRotation(c, await projectIdOf(c)),
);
