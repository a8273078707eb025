/**
 * The bridge's stand-in for Neon's SQL-over-HTTP endpoint (`https://api.<host>/sql`), which the
 * serverless driver's `neon()` (and drizzle's `neon-http`) call with one `fetch` per statement:
 * no WebSocket, no startup, one round trip. The protocol, as the driver speaks it:
 *
 * - `POST /sql` with the connection string in `Neon-Connection-String`, and a JSON body
 *   `{"query": "...", "params": [...]}` (parameters as text or null, the driver's own encoding),
 *   or `{"queries": [...]}` for several run in one transaction (`Neon-Batch-Isolation-Level`,
 *   `Neon-Batch-Read-Only`, `Neon-Batch-Deferrable` set how);
 * - the answer is `{"command", "rowCount", "fields": [{name, dataTypeID, ...}], "rows": [[...]]}`
 *   with every value as Postgres's text (`Neon-Raw-Text-Output`, `Neon-Array-Mode`: the driver
 *   parses the values by type itself), or `{"results": [...]}` for several;
 * - a statement Postgres refuses answers 400 with the error's fields (`message`, `code`,
 *   `detail`, `constraint`, ...), which the driver raises as its NeonDbError.
 *
 * Each request borrows a logged-in server connection from the bridge's pool for its statement
 * (or its transaction) and gives it back: as behind Neon's endpoint, no login per statement.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  dataRow,
  errorFields,
  extendedQuery,
  type FieldDescription,
  LoginRefused,
  MessageReader,
  rowDescription,
  sync,
} from "./pg-wire";

/** A logged-in server connection, as the bridge's pool lends it. */
export interface LentConnection {
  socket: import("node:net").Socket;
  /** Called when the server hangs up or fails while the connection is lent. */
  onLost?: () => void;
}

/** The bridge's pool for one server, user, database and password. */
export interface ConnectionLender {
  acquire(): Promise<LentConnection>;
  release(connection: LentConnection): void;
  discard(connection: LentConnection): void;
}

/** Where a request's statements go, and how the bridge counts them. */
export interface SqlOverHttpContext {
  /** The pool for a server and the credentials a connection string names. */
  lenderFor(
    target: { host: string; port: number },
    parameters: Record<string, string>,
    password: string,
  ): ConnectionLender;
  loopbackTarget(host: string, port: number): { host: string; port: number } | undefined;
  countStatements(database: string, count: number): void;
}

interface QueryRequest {
  query: string;
  params?: unknown[];
}

/** One statement's answer, as Neon's endpoint shapes it. */
interface QueryResult {
  command: string;
  rowCount: number | null;
  fields: FieldDescription[];
  rows: Array<Array<string | null>>;
  rowAsArray: true;
}

/** The JSON names of an ErrorResponse's fields, as Neon's endpoint (and pg's DatabaseError) name them. */
const ERROR_FIELD_NAMES: Record<string, string> = {
  S: "severity",
  C: "code",
  D: "detail",
  H: "hint",
  P: "position",
  p: "internalPosition",
  q: "internalQuery",
  W: "where",
  s: "schema",
  t: "table",
  c: "column",
  d: "dataType",
  n: "constraint",
  F: "file",
  L: "line",
  R: "routine",
};

const ISOLATION_LEVELS: Record<string, string> = {
  Serializable: "SERIALIZABLE",
  RepeatableRead: "REPEATABLE READ",
  ReadCommitted: "READ COMMITTED",
  ReadUncommitted: "READ UNCOMMITTED",
};

/** Answers one `POST /sql`. */
export async function answerSqlOverHttp(
  request: IncomingMessage,
  response: ServerResponse,
  context: SqlOverHttpContext,
): Promise<void> {
  const reply = (status: number, body: unknown) => {
    response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };
  let connectionString: URL;
  let body: { query?: string; params?: unknown[]; queries?: QueryRequest[] };
  try {
    connectionString = new URL(String(request.headers["neon-connection-string"] ?? ""));
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (error) {
    reply(400, { message: `the request could not be read: ${(error as Error).message}`, code: "08P01" });
    return;
  }
  const target = context.loopbackTarget(connectionString.hostname, Number(connectionString.port || 5432));
  if (!target) {
    // Like the WebSocket side: the bridge must not become a relay from the Worker to any host.
    reply(400, { message: "the connection string must name a loopback host:port", code: "08004" });
    return;
  }
  const database = decodeURIComponent(connectionString.pathname.slice(1));
  const parameters = { user: decodeURIComponent(connectionString.username), database, client_encoding: "UTF8" };
  const lender = context.lenderFor(target, parameters, decodeURIComponent(connectionString.password));
  const queries = body.queries ?? [{ query: body.query ?? "", params: body.params }];
  const transaction = body.queries ? transactionStart(request.headers) : undefined;

  let server: LentConnection;
  try {
    server = await lender.acquire();
  } catch (error) {
    if (error instanceof LoginRefused) {
      reply(400, errorJson(errorFields(error.response.subarray(5))));
      return;
    }
    response.writeHead(502).end(`the bridge could not reach the server: ${(error as Error).message}`);
    return;
  }
  context.countStatements(database, queries.length);
  let outcome: { results: QueryResult[]; transactionStatus: string };
  try {
    outcome = await run(server, queries, transaction);
  } catch (error) {
    // The connection broke mid-statement: its state is unknown, so it is not lent again.
    lender.discard(server);
    response.writeHead(502).end(`the server connection was lost: ${(error as Error).message}`);
    return;
  }
  const { results, transactionStatus } = outcome;
  // A batch that failed leaves its explicit transaction open: that connection is not lent again.
  if (transactionStatus === "I") lender.release(server);
  else lender.discard(server);
  const failed = results.find((result): result is QueryResult & { error: Record<string, string> } => "error" in result);
  if (failed) reply(400, errorJson(failed.error));
  else reply(200, body.queries ? { results } : results[0]);
}

/** `BEGIN` with what a batch's headers ask for. */
function transactionStart(headers: IncomingMessage["headers"]): string {
  const level = ISOLATION_LEVELS[String(headers["neon-batch-isolation-level"] ?? "")];
  const readOnly = headers["neon-batch-read-only"] === "true";
  const deferrable = headers["neon-batch-deferrable"] === "true";
  return [
    "BEGIN",
    level && `ISOLATION LEVEL ${level}`,
    readOnly ? "READ ONLY" : undefined,
    deferrable ? "DEFERRABLE" : undefined,
  ]
    .filter(Boolean)
    .join(" ");
}

/**
 * Sends the statements in one flight with one Sync (one statement, or a transaction between
 * `begin` and COMMIT) and reads the answers up to ReadyForQuery. A refused statement ends the
 * flight: Postgres skips the rest up to the Sync, and its error is the result that says so.
 */
function run(
  server: LentConnection,
  queries: QueryRequest[],
  begin: string | undefined,
): Promise<{
  results: Array<QueryResult | (QueryResult & { error: Record<string, string> })>;
  transactionStatus: string;
}> {
  const flight = Buffer.concat([
    ...(begin ? [extendedQuery(begin, [], false)] : []),
    ...queries.map(({ query, params }) => extendedQuery(query, (params ?? []).map(textParameter))),
    ...(begin ? [extendedQuery("COMMIT", [], false)] : []),
    sync(),
  ]);
  return new Promise((resolve, reject) => {
    const reader = new MessageReader();
    const results: Array<QueryResult & { error?: Record<string, string> }> = [];
    // The BEGIN's own CommandComplete comes first; it is not a result.
    let skipCommands = begin ? 1 : 0;
    let current: QueryResult = newResult();
    server.onLost = () => reject(new Error("the server hung up"));
    server.socket.on("data", (chunk: Buffer) => {
      for (const { type, body } of reader.push(chunk)) {
        switch (String.fromCharCode(type)) {
          case "T":
            current.fields = rowDescription(body);
            break;
          case "D":
            current.rows.push(dataRow(body));
            break;
          case "C": {
            if (skipCommands > 0) {
              skipCommands--;
              break;
            }
            if (results.length < queries.length) {
              const tag = body.toString("utf8", 0, body.length - 1).split(" ");
              const count = Number(tag.at(-1));
              results.push({ ...current, command: tag[0], rowCount: Number.isInteger(count) ? count : null });
              current = newResult();
            }
            break;
          }
          case "I":
            if (results.length < queries.length) results.push({ ...current, command: "", rowCount: null });
            current = newResult();
            break;
          case "E":
            results.push({ ...current, error: errorFields(body) });
            break;
          case "Z":
            server.onLost = undefined;
            server.socket.removeAllListeners("data");
            resolve({ results, transactionStatus: String.fromCharCode(body[0]) });
            return;
        }
      }
    });
    server.socket.write(flight);
  });
}

function newResult(): QueryResult {
  return { command: "", rowCount: null, fields: [], rows: [], rowAsArray: true };
}

/** A parameter as text, as the driver already encodes them (strings, or null); numbers and booleans as Postgres reads them. */
function textParameter(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** An ErrorResponse's fields as Neon's endpoint answers them. */
function errorJson(fields: Record<string, string>): Record<string, string> {
  const json: Record<string, string> = { message: fields.M ?? "the statement failed" };
  for (const [letter, name] of Object.entries(ERROR_FIELD_NAMES))
    if (fields[letter] !== undefined) json[name] = fields[letter];
  // The unlocalized severity, when the server sends it.
  if (fields.V) json.severity = fields.V;
  return json;
}
