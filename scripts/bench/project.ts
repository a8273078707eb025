/**
 * The bench's project and API token, made with Fliq's own SQL through the bridge, as the
 * Worker would. The clear token lives only in memory: the database is dropped at the end.
 */
import { generateApiToken } from "../../src/auth/tokens";
import { openDatabase } from "../../src/db/client";
import { insertApiToken, insertProject } from "../../src/db/projects";

/** Creates a project with a signing secret and a read/write token; returns the clear token and the project's id. */
export async function createBenchProject(
  databaseUrl: string,
  localDbProxy: string,
): Promise<{ token: string; projectId: string }> {
  const database = openDatabase({ databaseUrl, localDbProxy });
  try {
    const now = new Date();
    const project = await insertProject(database.db, "bench", now);
    const generated = await generateApiToken();
    await insertApiToken(
      database.db,
      {
        projectId: project.id,
        name: "bench",
        prefix: generated.prefix,
        tokenHash: generated.hash,
        scopes: ["read", "write"],
      },
      now,
    );
    return { token: generated.token, projectId: project.id };
  } finally {
    await database.close();
  }
}
