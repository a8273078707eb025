/**
 * Applies the committed drizzle-kit migrations, the same files `npm run db:migrate` applies in
 * production, so a local or test database has exactly the production schema.
 */
import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

const MIGRATIONS_FOLDER = fileURLToPath(new URL("../../migrations", import.meta.url));

/** Brings the database at `databaseUrl` up to the newest migration; already-applied ones are skipped. */
export async function migrateDatabase(databaseUrl: string): Promise<void> {
  // Plain TCP through `pg`: this runs in Node, next to the database, and needs no bridge.
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await migrate(drizzle({ client }), { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await client.end();
  }
}
