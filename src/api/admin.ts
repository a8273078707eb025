/**
 * The admin API, for whoever runs this Fliq: projects, their tokens and their signing
 * secrets, guarded by the ADMIN_TOKEN Worker secret (see requireAdminToken). It does what the
 * admin CLI (scripts/fliq.ts) does, through the same database functions.
 */
import { type Context, Hono } from "hono";
import { findProject, insertProject, issueApiToken, listProjects, liveSigningSecrets } from "../db/projects";
import type { AppEnv } from "../http/env";
import { notFound } from "../wire/errors";
import { createProjectRequest, idParam } from "../wire/tokens";
import { toProjectJson, toTokenJson } from "./render";
import { answerRotation, answerSigningSecrets } from "./signing-secrets";
import { answerCreateToken, answerRevokeToken, answerTokens } from "./tokens";
import { parseJsonBody } from "./validation";

export const adminApi = new Hono<AppEnv>();

/** The project named in the path; an unknown or malformed id answers 404. */
async function projectIdOf(c: Context<AppEnv>): Promise<string> {
  const id = idParam.safeParse(c.req.param("id"));
  if (!id.success || !(await findProject(c.var.db, id.data))) throw notFound("Project");
  return id.data;
}

adminApi.get("/projects", async (c) => c.json({ projects: (await listProjects(c.var.db)).map(toProjectJson) }));

/** A project with its first token (every scope, shown once) and its signing secret. */
adminApi.post("/projects", async (c) => {
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
});

adminApi.get("/projects/:id/tokens", async (c) => answerTokens(c, await projectIdOf(c)));
adminApi.post("/projects/:id/tokens", async (c) => answerCreateToken(c, await projectIdOf(c)));
adminApi.delete("/projects/:id/tokens/:tokenId", async (c) =>
  answerRevokeToken(c, await projectIdOf(c), c.req.param("tokenId")),
);

/** The secrets that sign the project's callbacks now, newest first (receivers verify with them). */
adminApi.get("/projects/:id/signing-secrets", async (c) => answerSigningSecrets(c, await projectIdOf(c)));

/** A new signing secret; older ones keep signing beside it for `grace_hours`. */
adminApi.post("/projects/:id/signing-secrets/rotate", async (c) => answerRotation(c, await projectIdOf(c)));
