/**
 * Hand-over between the paths that fire jobs. A path that cannot fire a job it claimed (the API
 * request's delivery, a shard) releases the claim and wakes the window's owner, the tick, which
 * then looks for due jobs at once instead of at its next poll (every 10 s). The wake-up is a
 * Postgres notification on the tick's own connection: no statement while nothing happens, and
 * no extra connection. Both drivers (Neon's, and `pg` through Hyperdrive) deliver notifications
 * the same way. Where notifications do not reach the tick (a transaction-mode pooler such as
 * Neon's `-pooler` host or Hyperdrive's pool, or embedded PGlite), it falls back to its poll.
 */
import { sql } from "drizzle-orm";
import type { Database } from "./client";

/** The part of a Pool (Neon's or pg's, the same API) that LISTEN needs. */
interface NotifyingPool {
  connect(): Promise<{
    on(event: "notification", listener: (message: { channel: string }) => void): unknown;
    removeListener(event: "notification", listener: (message: { channel: string }) => void): unknown;
    query(text: string): Promise<unknown>;
    release(): void;
  }>;
}

/** The notification channel window owners listen on. */
const HANDOVER_CHANNEL = "fliq_handover";

/**
 * Releases claimed-but-unstarted jobs and wakes the window owners, in one statement.
 * Guard: only rows still `scheduled` and claimed by this claimant are released; the wake-up is
 * sent even when none was (a spurious wake-up costs the owner one poll). Returns the ids released.
 */
export async function handOverClaims(db: Database, claimant: string, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const result = await db.execute<{ id: string }>(sql`
    WITH released AS (
      UPDATE jobs SET claimed_by = NULL, locked_until = NULL
      WHERE id = ANY(${`{${ids.join(",")}}`}::uuid[]) AND status = 'scheduled' AND claimed_by = ${claimant}
      RETURNING id
    ), woken AS (SELECT pg_notify(${HANDOVER_CHANNEL}, '') AS sent)
    SELECT released.id FROM woken LEFT JOIN released ON true`);
  return result.rows.flatMap((row) => (row.id ? [row.id] : []));
}

/** Wakes the window owners: jobs nobody has claimed are due before their next poll. */
export async function wakeWindowOwners(db: Database): Promise<void> {
  await db.execute(sql`SELECT pg_notify(${HANDOVER_CHANNEL}, '')`);
}

/**
 * Calls `onHandOver` whenever a path hands jobs over, for as long as the pool's connection lives
 * (the pool holds one, and keeps it for the invocation). Returns a function that stops listening.
 */
export async function listenForHandOvers(db: Database, onHandOver: () => void): Promise<() => void> {
  // drizzle() keeps the pool it was given as `$client`; the Database type does not spell it out.
  const client = await (db as Database & { $client: NotifyingPool }).$client.connect();
  const listener = (message: { channel: string }) => {
    if (message.channel === HANDOVER_CHANNEL) onHandOver();
  };
  try {
    client.on("notification", listener);
    await client.query(`LISTEN ${HANDOVER_CHANNEL}`);
  } finally {
    client.release();
  }
  return () => client.removeListener("notification", listener);
}
