/**
 * The local stack's own project and token. The clear token exists only at creation, so it is
 * kept in a git-ignored credentials file: `npm start` prints the same token on every restart.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { generateApiToken, hashesEqual, hashToken, lookupPrefix } from "../../src/auth/tokens";
import { type Database, type DatabaseSettings, openDatabase } from "../../src/db/client";
import {
  findLiveTokensByPrefix,
  findProject,
  insertApiToken,
  insertProject,
  liveSigningSecrets,
} from "../../src/db/projects";

export interface DevCredentials {
  projectId: string;
  token: string;
}

const DEV_NAME = "dev";
const DEV_SCOPES = ["read", "write", "admin"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Returns the dev project and a working token: the saved ones while they still work in this
 * database, else a new token (for a revoked one) or a new project (for a new database), saved.
 */
export async function ensureDevProject(
  options: DatabaseSettings & {
    credentialsFile: string;
  },
): Promise<DevCredentials & { signingSecret: string }> {
  const saved = await readCredentials(options.credentialsFile);
  const database = openDatabase(options);
  try {
    const now = new Date();
    const credentials = await liveCredentials(database.db, saved, now);
    if (credentials !== saved) await writeCredentials(options.credentialsFile, credentials);
    // The secret is not saved: it lives in the database, and a rotation replaces it there.
    const [signingSecret] = await liveSigningSecrets(database.db, credentials.projectId, now);
    return { ...credentials, signingSecret };
  } finally {
    await database.close();
  }
}

/** The saved credentials while they still work, else a new token (or a new project and token). */
async function liveCredentials(db: Database, saved: DevCredentials | undefined, now: Date): Promise<DevCredentials> {
  let projectId = saved && (await findProject(db, saved.projectId))?.id;
  if (saved && projectId && (await isLiveToken(db, saved.token))) return saved;
  projectId ??= (await insertProject(db, DEV_NAME, now)).id;
  const generated = await generateApiToken();
  await insertApiToken(
    db,
    { projectId, name: DEV_NAME, prefix: generated.prefix, tokenHash: generated.hash, scopes: DEV_SCOPES },
    now,
  );
  return { projectId, token: generated.token };
}

async function isLiveToken(db: Database, token: string): Promise<boolean> {
  const hash = await hashToken(token);
  const candidates = await findLiveTokensByPrefix(db, lookupPrefix(token));
  return candidates.some((row) => hashesEqual(row.tokenHash, hash));
}

/** The saved credentials; a missing or unreadable file counts as none, and is replaced. */
async function readCredentials(file: string): Promise<DevCredentials | undefined> {
  try {
    const parsed: Partial<DevCredentials> = JSON.parse(await readFile(file, "utf8"));
    // A malformed id would fail as a query error instead of meaning "no such project".
    if (typeof parsed.projectId === "string" && UUID.test(parsed.projectId) && typeof parsed.token === "string") {
      return { projectId: parsed.projectId, token: parsed.token };
    }
  } catch {}
  return undefined;
}

async function writeCredentials(file: string, credentials: DevCredentials): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  // The token is a live admin credential: readable by its owner only.
  await writeFile(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
}
