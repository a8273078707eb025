import type { Database } from "../db/client";
import type { Bindings } from "../settings";

/** Who is calling: set by requireToken. */
export interface Caller {
  projectId: string;
  tokenId: string;
  scopes: string[];
}

/** Hono's typing for this app: the Worker bindings and the per-request variables. */
export interface AppEnv {
  Bindings: Bindings;
  Variables: {
    db: Database;
    /** For work done in one statement: one HTTP round trip through Neon (see DatabaseHandle.statementDb). */
    statementDb: Database;
    auth: Caller;
    /** SHA-256 of the presented token, set once it is read: what the rate limit counts per token. */
    tokenHash: string;
    now: Date;
    /**
     * Runs `task` after the response, on this request's database connection, which stays open
     * until the task settles (see database-per-request). The task must catch its own errors.
     */
    afterResponse: (task: Promise<unknown>) => void;
  };
}
