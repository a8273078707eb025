/**
 * SQL for dashboard sessions: rows keyed by the SHA-256 of a random session id, each tied to
 * the API token it was signed in with. `now` is passed in, so tests back-date rows instead of
 * waiting.
 */
import { and, eq, lte, or, sql } from "drizzle-orm";
import type { Database } from "./client";
import { dashboardSessions } from "./schema";

/** Stores a new session for a token; expired sessions of the same token are cleared on the way. */
export async function insertSession(
  db: Database,
  session: { idHash: string; tokenId: string; expiresAt: Date },
  now: Date,
  idleBefore: Date,
): Promise<void> {
  // Sign-in is rare: clearing the token's dead sessions here keeps the table small without a sweeper.
  await db
    .delete(dashboardSessions)
    .where(
      and(
        eq(dashboardSessions.tokenId, session.tokenId),
        or(lte(dashboardSessions.expiresAt, now), lte(dashboardSessions.lastSeenAt, idleBefore)),
      ),
    );
  await db.insert(dashboardSessions).values({ ...session, createdAt: now, lastSeenAt: now });
}

/**
 * Who a live session belongs to, recording that it was seen now. Guard, in the one statement
 * that also touches it: the session has not passed its absolute expiry, was seen after
 * `idleBefore`, and its token is unrevoked, so revoking a token ends its sessions on the next
 * request. Undefined when any of that fails (or no such session exists).
 */
export async function touchLiveSession(
  db: Database,
  idHash: string,
  now: Date,
  idleBefore: Date,
): Promise<{ projectId: string; tokenId: string; scopes: string[] } | undefined> {
  const result = await db.execute<{ project_id: string; token_id: string; scopes: string[] }>(sql`
    UPDATE dashboard_sessions AS s SET last_seen_at = ${now.toISOString()}::timestamptz
    FROM api_tokens AS t
    WHERE s.id_hash = ${idHash}
      AND t.id = s.token_id
      AND t.revoked_at IS NULL
      AND s.expires_at > ${now.toISOString()}::timestamptz
      AND s.last_seen_at > ${idleBefore.toISOString()}::timestamptz
    RETURNING t.project_id, t.id AS token_id, t.scopes`);
  const [row] = result.rows;
  return row && { projectId: row.project_id, tokenId: row.token_id, scopes: row.scopes };
}

/**
 * Who a live session belongs to, without recording that it was seen: a page's own poll for
 * changes is not the user's activity, so it never keeps an idle session alive. Same guards as
 * touchLiveSession, read-only.
 */
export async function peekLiveSession(
  db: Database,
  idHash: string,
  now: Date,
  idleBefore: Date,
): Promise<{ projectId: string; tokenId: string; scopes: string[] } | undefined> {
  const result = await db.execute<{ project_id: string; token_id: string; scopes: string[] }>(sql`
    SELECT t.project_id, t.id AS token_id, t.scopes
    FROM dashboard_sessions AS s JOIN api_tokens AS t ON t.id = s.token_id
    WHERE s.id_hash = ${idHash}
      AND t.revoked_at IS NULL
      AND s.expires_at > ${now.toISOString()}::timestamptz
      AND s.last_seen_at > ${idleBefore.toISOString()}::timestamptz`);
  const [row] = result.rows;
  return row && { projectId: row.project_id, tokenId: row.token_id, scopes: row.scopes };
}

/** Deletes a session (sign-out); deleting one that is gone already is a no-op. */
export async function deleteSession(db: Database, idHash: string): Promise<void> {
  await db.delete(dashboardSessions).where(eq(dashboardSessions.idHash, idHash));
}
