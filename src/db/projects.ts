/**
 * SQL for projects and their API tokens.
 */
import { and, desc, eq, gt, isNull, lt, or, sql } from "drizzle-orm";
import { generateApiToken } from "../auth/tokens";
import { generateSigningSecret } from "../auth/webhook-signature";
import type { Database } from "./client";
import { type ApiTokenRow, apiTokens, dashboardSessions, type ProjectRow, projects, signingSecrets } from "./schema";

/** Inserts a project with its first signing secret, in one statement: never a project that cannot sign. */
export async function insertProject(db: Database, name: string, now: Date): Promise<ProjectRow> {
  const result = await db.execute<{ id: string; name: string; created_at: string }>(sql`
    WITH created AS (
      INSERT INTO projects (name, created_at) VALUES (${name}, ${now.toISOString()}::timestamptz) RETURNING *
    ), first_secret AS (
      INSERT INTO signing_secrets (project_id, secret, created_at)
      SELECT id, ${generateSigningSecret()}, created_at FROM created
    )
    SELECT id, name, created_at FROM created`);
  const [row] = result.rows;
  return { id: row.id, name: row.name, createdAt: new Date(row.created_at), alertUrl: null };
}

/** The secrets that sign a project's callbacks now, newest first. */
export async function liveSigningSecrets(db: Database, projectId: string, now: Date): Promise<string[]> {
  return (await liveSigningSecretRows(db, projectId, now)).map((row) => row.secret);
}

/** The same secrets with when each was made and when it stops signing (null: until the next rotation). */
export async function liveSigningSecretRows(
  db: Database,
  projectId: string,
  now: Date,
): Promise<Array<{ secret: string; createdAt: Date; expiresAt: Date | null }>> {
  return db
    .select({ secret: signingSecrets.secret, createdAt: signingSecrets.createdAt, expiresAt: signingSecrets.expiresAt })
    .from(signingSecrets)
    .where(
      and(
        eq(signingSecrets.projectId, projectId),
        or(isNull(signingSecrets.expiresAt), gt(signingSecrets.expiresAt, now)),
      ),
    )
    .orderBy(desc(signingSecrets.createdAt));
}

export async function rotateSigningSecret(db: Database, projectId: string, now: Date, graceMs: number) {
  const graceEnd = new Date(now.getTime() + graceMs);
  return db.transaction(async (tx) => {
    await tx
      .update(signingSecrets)
      .set({ expiresAt: graceEnd })
      .where(
        and(
          eq(signingSecrets.projectId, projectId),
          or(isNull(signingSecrets.expiresAt), gt(signingSecrets.expiresAt, graceEnd)),
        ),
      );
    const [row] = await tx
      .insert(signingSecrets)
      .values({ projectId, secret: generateSigningSecret(), createdAt: now })
      .returning();
    return row;
  });
}

export interface NewApiToken {
  projectId: string;
  name: string;
  prefix: string;
  tokenHash: string;
  scopes: string[];
}

/** Inserts a token row (hash and prefix only; the clear token is never stored). */
export async function insertApiToken(db: Database, token: NewApiToken, now: Date): Promise<ApiTokenRow> {
  const [row] = await db
    .insert(apiTokens)
    .values({ ...token, createdAt: now })
    .returning();
  return row;
}

/**
 * Issues a new token for a project: generates the secret, stores its hash and lookup prefix,
 * and returns the clear token, which exists nowhere else and is shown to the caller once.
 */
export async function issueApiToken(
  db: Database,
  token: { projectId: string; name: string; scopes: string[] },
  now: Date,
): Promise<{ row: ApiTokenRow; token: string }> {
  const generated = await generateApiToken();
  const row = await insertApiToken(db, { ...token, prefix: generated.prefix, tokenHash: generated.hash }, now);
  return { row, token: generated.token };
}

/** A project's tokens, newest first, revoked ones included (they show when they were revoked). */
export async function listApiTokens(db: Database, projectId: string): Promise<ApiTokenRow[]> {
  return db
    .select()
    .from(apiTokens)
    .where(eq(apiTokens.projectId, projectId))
    .orderBy(desc(apiTokens.createdAt), desc(apiTokens.id));
}

/**
 * Revokes a project's token; the very next request with it is refused, because every request
 * (API call or dashboard page) checks its token is unrevoked. Its dashboard sessions are
 * deleted too, so no row outlives its use. Idempotent: revoking a revoked token keeps its
 * first revoked_at. Another project's token id finds nothing (undefined).
 */
export async function revokeApiToken(
  db: Database,
  projectId: string,
  id: string,
  now: Date,
): Promise<ApiTokenRow | undefined> {
  const [row] = await db
    .update(apiTokens)
    .set({ revokedAt: sql`coalesce(${apiTokens.revokedAt}, ${now.toISOString()}::timestamptz)` })
    .where(and(eq(apiTokens.projectId, projectId), eq(apiTokens.id, id)))
    .returning();
  if (row) await db.delete(dashboardSessions).where(eq(dashboardSessions.tokenId, row.id));
  return row;
}

/**
 * Records that a token was used. Guard: only when its last_used_at is older than
 * `staleBefore`, so a busy token costs one write a minute, not one per request.
 */
export async function touchApiToken(db: Database, id: string, now: Date, staleBefore: Date): Promise<void> {
  await db
    .update(apiTokens)
    .set({ lastUsedAt: now })
    .where(and(eq(apiTokens.id, id), or(isNull(apiTokens.lastUsedAt), lt(apiTokens.lastUsedAt, staleBefore))));
}

/**
 * Unrevoked tokens whose clear prefix matches. Read-only; the caller compares hashes in
 * constant time, so the lookup itself never depends on the secret part.
 */
export async function findLiveTokensByPrefix(db: Database, prefix: string): Promise<ApiTokenRow[]> {
  return db
    .select()
    .from(apiTokens)
    .where(and(eq(apiTokens.prefix, prefix), isNull(apiTokens.revokedAt)));
}

/** Every project, oldest first. */
export async function listProjects(db: Database): Promise<ProjectRow[]> {
  return db.select().from(projects).orderBy(projects.createdAt, projects.id);
}

/** Finds a project by id. */
export async function findProject(db: Database, id: string): Promise<ProjectRow | undefined> {
  const [row] = await db.select().from(projects).where(eq(projects.id, id));
  return row;
}

/**
 * The stored lookup prefix and hash of a project's live token: how a dashboard session, which
 * holds no token, presents its token to statements that check one (createJobsAsCaller).
 */
export async function presentedTokenOf(
  db: Database,
  projectId: string,
  tokenId: string,
): Promise<{ prefix: string; hash: string } | undefined> {
  const [row] = await db
    .select({ prefix: apiTokens.prefix, hash: apiTokens.tokenHash })
    .from(apiTokens)
    .where(and(eq(apiTokens.id, tokenId), eq(apiTokens.projectId, projectId), isNull(apiTokens.revokedAt)));
  return row;
}
