/**
 * What an action needs from the request that asks for it, and nothing of HTTP: the database,
 * the one clock reading, the settings (parsed once per request), who is calling, and where to
 * leave work that runs after the answer. The API and the dashboard each build one per request
 * (src/http/action-context.ts); tests and scripts can build one by hand.
 */
import type { Database } from "../db/client";
import type { Settings } from "../settings";

/** Who is calling: the project its token belongs to, the token, and the token's scopes. */
export interface Caller {
  projectId: string;
  tokenId: string;
  scopes: string[];
}

/** An action's world, before the caller is known (creating jobs looks the token up in its own statement). */
export interface RequestContext {
  db: Database;
  /** For work done in one statement: one HTTP round trip through Neon (see DatabaseHandle.statementDb). */
  statementDb: Database;
  /** The request's one clock reading. */
  now: Date;
  settings: Settings;
  /** The origin the request was sent to: the callback target policy treats it as this deployment's own host. */
  origin: string;
  /**
   * Runs `task` after the answer, on this request's database connection, which stays open until
   * the task settles. The task must catch its own errors.
   */
  waitUntil(task: Promise<unknown>): void;
}

/** An action's world once the caller is known. */
export interface ActionContext extends RequestContext {
  caller: Caller;
}
