import type { Query, SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { Database } from "./client";

/**
 * A statement whose SQL text is built once per isolate and then only given its values.
 * drizzle turns a `sql` template into text and parameters on every call, testing each chunk's
 * class as it goes: for the one statement of a `POST /jobs`, with its forty parameters, that was
 * about a tenth of the Worker's CPU per create. Here the template names its values with
 * `sql.placeholder(name)` and is rendered once per shape (`shape` picks among a statement's few
 * variants, such as a CTE present or not); each call passes the values, as drizzle's own
 * prepared queries do, through whichever session `db` has (Neon over HTTP or WebSocket, `pg`
 * through Hyperdrive, a transaction's).
 */
export function builtOnce<Shape extends string, Row extends Record<string, unknown>>(build: (shape: Shape) => SQL) {
  const rendered = new Map<Shape, Query>();
  return (db: Database, shape: Shape, values: Record<string, unknown>): Promise<{ rows: Row[] }> => {
    let query = rendered.get(shape);
    if (!query) {
      query = dialect.sqlToQuery(build(shape));
      rendered.set(shape, query);
    }
    const prepared = db._.session.prepareQuery(query, undefined, undefined, false);
    return prepared.execute(values) as Promise<{ rows: Row[] }>;
  };
}

/** Renders templates as every Postgres session of drizzle does (the dialect holds no state per database). */
const dialect = new PgDialect();
