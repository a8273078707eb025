/**
 * The admin CLI for self-hosters, working directly against DATABASE_URL:
 *   npm run fliq -- projects create <name>     a project and its first admin token (shown once)
 *   npm run fliq -- projects list
 *   npm run fliq -- tokens create <project-id> [name] [--scopes read,write]
 *   npm run fliq -- tokens list <project-id>
 *   npm run fliq -- tokens revoke <project-id> <token-id>
 *   npm run fliq -- secrets list <project-id>      the signing secrets in use now
 *   npm run fliq -- secrets rotate <project-id> [--grace-hours 24]
 * Any Postgres (Neon, one behind Hyperdrive, a local one) is reached directly over TCP with `pg`:
 * use the database's direct connection string. A database that cannot be reached is said in one
 * line naming its host and the cause.
 */
import { openDatabase } from "../src/db/client";
import { unreachableIn } from "../src/db/connection-errors";
import {
  findProject,
  insertProject,
  issueApiToken,
  listApiTokens,
  listProjects,
  liveSigningSecrets,
  revokeApiToken,
  rotateSigningSecret,
} from "../src/db/projects";

const USAGE = `usage:
  npm run fliq -- projects create <name>
  npm run fliq -- projects list
  npm run fliq -- tokens create <project-id> [name] [--scopes read,write,admin]
  npm run fliq -- tokens list <project-id>
  npm run fliq -- tokens revoke <project-id> <token-id>
  npm run fliq -- secrets list <project-id>
  npm run fliq -- secrets rotate <project-id> [--grace-hours 24]`;

const ALL_SCOPES = ["read", "write", "admin"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function main(argv: string[]): Promise<number> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.error("DATABASE_URL is not set: point it at your Fliq database.");
    return 2;
  }
  const [noun, verb, ...rest] = argv;
  const graceFlag = rest.indexOf("--grace-hours");
  const graceHours = graceFlag >= 0 ? Number(rest.splice(graceFlag, 2)[1]) : 24;
  if (!Number.isFinite(graceHours) || graceHours < 0) {
    console.error("--grace-hours takes a number of hours (0 or more)");
    return 2;
  }
  const scopesFlag = rest.indexOf("--scopes");
  const scopes = scopesFlag >= 0 ? rest.splice(scopesFlag, 2)[1]?.split(",") : ALL_SCOPES;
  if (!scopes || scopes.some((scope) => !ALL_SCOPES.includes(scope))) {
    console.error(`--scopes takes a comma-separated list of ${ALL_SCOPES.join(", ")}`);
    return 2;
  }

  const database = openDatabase({ databaseUrl, databaseDriver: "tcp" });
  try {
    const now = new Date();
    if (noun === "projects" && verb === "create" && rest[0]) {
      const project = await insertProject(database.db, rest[0], now);
      const token = await createToken(project.id, "admin", scopes, now);
      const [secret] = await liveSigningSecrets(database.db, project.id, now);
      console.log(`project         ${project.id} (${project.name})`);
      console.log(`token           ${token}   (shown once: store it now)`);
      console.log(`signing secret  ${secret}   (verifies callbacks; see 'secrets list')`);
      return 0;
    }
    if (noun === "projects" && verb === "list") {
      for (const project of await listProjects(database.db)) {
        console.log(`${project.id}  ${project.createdAt.toISOString()}  ${project.name}`);
      }
      return 0;
    }
    const projectId = rest[0];
    if (!projectId || !UUID.test(projectId) || !(await findProject(database.db, projectId))) {
      console.error(projectId ? `no project ${projectId}` : USAGE);
      return projectId ? 1 : 2;
    }
    if (noun === "tokens" && verb === "create") {
      const token = await createToken(projectId, rest[1] ?? "cli", scopes, now);
      console.log(`token ${token}   (shown once: store it now)`);
      return 0;
    }
    if (noun === "tokens" && verb === "list") {
      for (const token of await listApiTokens(database.db, projectId)) {
        const state = token.revokedAt ? `revoked ${token.revokedAt.toISOString()}` : "live";
        const used = token.lastUsedAt ? `last used ${token.lastUsedAt.toISOString()}` : "never used";
        console.log(
          `${token.id}  fliq_sk_${token.prefix}…  ${token.scopes.join(",")}  ${state}, ${used}  ${token.name}`,
        );
      }
      return 0;
    }
    if (noun === "tokens" && verb === "revoke" && rest[1]) {
      const revoked = UUID.test(rest[1]) ? await revokeApiToken(database.db, projectId, rest[1], now) : undefined;
      if (!revoked) {
        console.error(`no token ${rest[1]} in project ${projectId}`);
        return 1;
      }
      console.log(
        `token ${revoked.id} revoked at ${revoked.revokedAt?.toISOString()}: the next request with it is refused`,
      );
      return 0;
    }
    if (noun === "secrets" && verb === "list") {
      for (const secret of await liveSigningSecrets(database.db, projectId, now)) console.log(secret);
      return 0;
    }
    if (noun === "secrets" && verb === "rotate") {
      const rotated = await rotateSigningSecret(database.db, projectId, now, graceHours * 3_600_000);
      console.log(`new signing secret  ${rotated.secret}`);
      console.log(`older secrets keep signing beside it for ${graceHours} h: give receivers the new one before then`);
      return 0;
    }
    console.error(USAGE);
    return 2;
  } catch (error) {
    console.error(unreachableIn(error)?.message ?? `fliq: ${oneLine(error)}`);
    return 1;
  } finally {
    await database.close();
  }

  async function createToken(projectId: string, name: string, tokenScopes: string[], now: Date) {
    return (await issueApiToken(database.db, { projectId, name, scopes: tokenScopes }, now)).token;
  }
}

/** A failed statement's own reason (the database's message), not drizzle's statement dump. */
function oneLine(error: unknown): string {
  const root = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const text = (root instanceof Error ? root.message : String(root)).replace(/\s+/g, " ").trim();
  // 42P01, undefined_table: the schema is not there yet.
  const unmigrated = (root as { code?: unknown } | undefined)?.code === "42P01";
  return unmigrated ? `${text} (apply the migrations first: npm run db:migrate, see docs/deploy.md)` : text;
}

process.exitCode = await main(process.argv.slice(2));
