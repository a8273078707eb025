/**
 * The bench's database side: pg_stat_statements on the local cluster, a scratch database that
 * is dropped afterwards, and the statement counter the SQL-per-job numbers come from.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";

const ENABLE_SCRIPT = fileURLToPath(new URL("./enable-pg-stat-statements.sh", import.meta.url));

/** A database created for this run. */
export interface ScratchDatabase {
  name: string;
  url: string;
  /** The bench's own connection to it (as the URL's role, like the Worker). */
  readonly client: pg.Client;
  /** Opens a new `client` (after the server restarted under the old one). */
  reconnect(): Promise<void>;
  /** Closes the bench's connection and drops the database, whoever is still connected. */
  drop(): Promise<void>;
}

/**
 * Makes sure the cluster behind `serverUrl` preloads pg_stat_statements, restarting it through
 * enable-pg-stat-statements.sh only when it does not. Returns whether a restart happened.
 */
export async function ensurePgStatStatements(serverUrl: string): Promise<boolean> {
  const port = portOf(serverUrl);
  if (await isPreloaded(port)) return false;
  console.log("[bench] pg_stat_statements is not preloaded; enabling it (restarts PostgreSQL)");
  console.log(await run("bash", [ENABLE_SCRIPT, String(port)]));
  if (!(await isPreloaded(port))) throw new Error("pg_stat_statements is still not loaded after the restart");
  return true;
}

/**
 * Creates `fliq_bench_<ts>` next to the database in `serverUrl`, brought to the schema by `migrate`
 * (scripts/local/migrate.ts of the Worker under test), with pg_stat_statements usable by its role
 * unless `countStatements` is false.
 */
export async function createScratchDatabase(
  serverUrl: string,
  migrate: (databaseUrl: string) => Promise<void>,
  options: { countStatements: boolean } = { countStatements: true },
): Promise<ScratchDatabase> {
  const name = `fliq_bench_${Date.now()}`;
  await withClient(serverUrl, (admin) => admin.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const dropDatabase = () =>
    withClient(serverUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  let client: pg.Client | undefined;
  try {
    await migrate(url.toString());
    // Extensions and the reset function need a superuser; the grant lets the bench reset this
    // database's counters as the ordinary role, and goes away with the database.
    if (options.countStatements)
      await superuserSql(
        portOf(serverUrl),
        name,
        `CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
       GRANT EXECUTE ON FUNCTION pg_stat_statements_reset(oid, oid, bigint) TO ${quoteIdent(roleOf(serverUrl))};`,
      );
    client = await connect(url.toString());
  } catch (error) {
    await client?.end().catch(() => {});
    await dropDatabase();
    throw error;
  }
  let connected = client;
  return {
    name,
    url: url.toString(),
    get client() {
      return connected;
    },
    async reconnect() {
      await connected.end().catch(() => {});
      connected = await connect(url.toString());
    },
    async drop() {
      await connected.end().catch(() => {});
      await dropDatabase();
    },
  };
}

/** A connected client that outlives its server's restart without failing the bench (reconnect() replaces it). */
async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", (error) => console.log(`[bench] the bench's database connection failed: ${error.message}`));
  await client.connect();
  return client;
}

/** Empties the jobs table (attempts cascade) and tidies it, so each scenario starts alike. */
export async function emptyJobs(client: pg.Client): Promise<void> {
  await client.query("DELETE FROM jobs");
  await client.query("VACUUM ANALYZE jobs, job_attempts");
}

/** One statement's share of a measurement. */
export interface StatementCount {
  calls: number;
  /** Time the database spent executing it, summed over its calls (pg_stat_statements' total_exec_time). */
  totalMs: number;
  query: string;
}

/** What the database ran between a reset and a read. */
export interface StatementSnapshot {
  /** Statements executed in the scratch database, the bench's own statistics queries excluded. */
  calls: number;
  /** The most frequent statements, for seeing where the count comes from. */
  top: StatementCount[];
  /** Connections opened to the scratch database (each one a login: SCRAM authentication here). */
  connections: number;
}

/**
 * Counts the statements run in one database. pg_stat_statements is cluster-wide, so both reset
 * and read are limited to this database: other local runs on the same server do not leak in.
 * Without pg_stat_statements (`--count-statements bridge`), the count is the statements the
 * Worker sent through the bridge, which are all the Worker runs; then no breakdown is available.
 */
export class StatementCounter {
  private sessionsAtReset = 0;
  private bridgeCountAtReset = 0;

  constructor(
    private readonly database: { readonly client: pg.Client },
    private readonly bridgeCount?: () => number,
  ) {}

  /** Zeroes this database's counters. */
  async reset(): Promise<void> {
    if (this.bridgeCount) this.bridgeCountAtReset = this.bridgeCount();
    else {
      await this.database.client.query(
        "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)",
      );
    }
    this.sessionsAtReset = await this.sessions();
  }

  /** The statements executed since the last reset. */
  async read(topCount = 8): Promise<StatementSnapshot> {
    if (this.bridgeCount) {
      return {
        calls: this.bridgeCount() - this.bridgeCountAtReset,
        top: [],
        connections: (await this.sessions()) - this.sessionsAtReset,
      };
    }
    // The filter drops the bench's own statistics queries: they all name the views they read.
    const result = await this.database.client.query<{ calls: string; total_ms: number; query: string }>(
      `SELECT calls::text, total_exec_time AS total_ms, left(regexp_replace(query, '\\s+', ' ', 'g'), 140) AS query
       FROM pg_stat_statements
       WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND query !~* 'pg_stat_(statements|database)'
       ORDER BY calls DESC`,
    );
    const rows = result.rows.map((row) => ({ calls: Number(row.calls), totalMs: row.total_ms, query: row.query }));
    return {
      calls: rows.reduce((sum, row) => sum + row.calls, 0),
      top: rows.slice(0, topCount),
      connections: (await this.sessions()) - this.sessionsAtReset,
    };
  }

  /** Sessions ever opened to this database (backends report them within a second or at exit). */
  private async sessions(): Promise<number> {
    const result = await this.database.client.query<{ sessions: string }>(
      "SELECT sessions::text FROM pg_stat_database WHERE datname = current_database()",
    );
    return Number(result.rows[0]?.sessions ?? 0);
  }
}

async function isPreloaded(port: number): Promise<boolean> {
  const libraries = await superuserSql(port, "postgres", "SHOW shared_preload_libraries;");
  return libraries
    .split(",")
    .map((name) => name.trim())
    .includes("pg_stat_statements");
}

/** Runs SQL as the postgres superuser (peer login over the local socket), returning psql's unaligned output. */
function superuserSql(port: number, database: string, sql: string): Promise<string> {
  const psql = `psql -X -q -At -v ON_ERROR_STOP=1 -p ${port} -d ${database}`;
  return run("su", ["postgres", "-c", psql], sql);
}

/** Runs a command to completion; rejects with its stderr when it fails. */
function run(command: string, args: string[], input = ""): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: "pipe" });
    let output = "";
    let errors = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      errors += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(output.trim());
      else reject(new Error(`${command} ${args.join(" ")} failed (exit ${code}): ${errors.trim()}`));
    });
    child.stdin.end(input);
  });
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

function portOf(url: string): number {
  return Number(new URL(url).port || 5432);
}

function roleOf(url: string): string {
  return decodeURIComponent(new URL(url).username) || "postgres";
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
