/**
 * The one place that reads `env`: turns the Worker's bindings into typed settings.
 */
export interface Bindings {
  /** Postgres connection string (Neon in production). A Worker secret. */
  DATABASE_URL: string;
  /** host:port of a local WebSocket-to-TCP bridge; set only for local runs. */
  LOCAL_DB_PROXY?: string;
}

export interface Settings {
  databaseUrl: string;
  localDbProxy?: string;
}

/** Reads and checks the Worker's environment. Throws when a required binding is missing. */
export function readSettings(env: Bindings): Settings {
  if (!env.DATABASE_URL) throw new Error("DATABASE_URL is not set: add it with `wrangler secret put DATABASE_URL`");
  return { databaseUrl: env.DATABASE_URL, localDbProxy: env.LOCAL_DB_PROXY || undefined };
}
