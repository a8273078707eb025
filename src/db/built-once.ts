import type { Query, SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { Database } from "./client";

/**
 * A statement whose SQL text is built once per isolate and then only given its values.
 * drizzle turns a `sql` template into text and parameters on every call, testing each chunk's
 * class as it goes: for the one statement of a `POST /jobs`, with its forty parameters, that was
 * about a tenth of the Worker's CPU per create. Here the template names its values with
 * `sql.placeholder(name)` and is rendered once; each call passes the values, as drizzle's own
 * prepared queries do, through whichever session `db` has (Neon over HTTP or WebSocket, `pg`
 * through Hyperdrive, a transaction's).
 */
export function builtOnce<Row extends Record<string, unknown>>(build: () => SQL) {
  let query: Query | undefined;
  return (db: Database, values: Record<string, unknown>): Promise<{ rows: Row[] }> => {
    query ??= dialect.sqlToQuery(build());
    const prepared = db._.session.prepareQuery(query, undefined, undefined, false);
    return prepared.execute(values) as Promise<{ rows: Row[] }>;
  };
}

/** Renders templates as every Postgres session of drizzle does (the dialect holds no state per database). */
const dialect = new PgDialect();
