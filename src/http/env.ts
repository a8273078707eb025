/**
 * The request variables the API and the dashboard share (both are Hono apps mounted side by side
 * in src/app.ts): set by the app's clock middleware, databasePerRequest and the caller's checks.
 */
import type { Caller } from "../actions/context";
import type { Database } from "../db/client";
import type { Bindings, Settings } from "../settings";

/** Hono's typing for this Worker's HTTP surface: the Worker bindings and the per-request variables. */
export interface AppEnv {
  Bindings: Bindings;
  Variables: {
    db: Database;
    /** For work done in one statement: one HTTP round trip through Neon (see DatabaseHandle.statementDb). */
    statementDb: Database;
    /** This deployment's settings, read from the bindings once per request (databasePerRequest). */
    settings: Settings;
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

/** What the API's and the dashboard's environments both have: helpers over either take a Context of it. */
export type SharedEnv = { Bindings: AppEnv["Bindings"]; Variables: AppEnv["Variables"] };
