/**
 * SQL for projects and their API tokens.
 */
import { and, eq, isNull } from "drizzle-orm";
import type { Database } from "./client";
import { type ApiTokenRow, apiTokens, type ProjectRow, projects } from "./schema";

/** Inserts a project. */
export async function insertProject(db: Database, name: string, now: Date): Promise<ProjectRow> {
  const [row] = await db.insert(projects).values({ name, createdAt: now }).returning();
  return row;
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
 * Unrevoked tokens whose clear prefix matches. Read-only; the caller compares hashes in
 * constant time, so the lookup itself never depends on the secret part.
 */
export async function findLiveTokensByPrefix(db: Database, prefix: string): Promise<ApiTokenRow[]> {
  return db
    .select()
    .from(apiTokens)
    .where(and(eq(apiTokens.prefix, prefix), isNull(apiTokens.revokedAt)));
}

/** Finds a project by id. */
export async function findProject(db: Database, id: string): Promise<ProjectRow | undefined> {
  const [row] = await db.select().from(projects).where(eq(projects.id, id));
  return row;
}
