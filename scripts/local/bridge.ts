/**
 * The local stand-in for Neon's proxy and its `-pooler` endpoint, so the Worker reaches a
 * Postgres on this machine the way production reaches Neon. The neon driver (which only speaks
 * WebSocket) opens `ws://127.0.0.1:PORT/?address=host:port`, and the bridge, like Neon's proxy:
 *
 * - takes the driver's cleartext password (`pipelineConnect: "password"`: startup, password and
 *   first query in one flight), so the Worker computes no SCRAM;
 * - pools logged-in server connections in transaction mode, as PgBouncer does behind Neon's
 *   pooler: a client is lent a server connection when it sends a statement and gives it back
 *   at the next ReadyForQuery that shows no transaction open. So a request costs no login and
 *   no Postgres backend start-up, and, as on Neon, the Worker must keep no session state (no
 *   SET, session advisory locks, LISTEN or named prepared statements) outside a transaction.
 *
 * It also answers `POST /sql` as Neon's SQL-over-HTTP endpoint does (scripts/local/sql-over-http.ts):
 * one statement (or one transaction) per request, run on a connection from the same pools, with
 * no connection held between requests. The Worker creates jobs that way (DatabaseHandle.statementDb).
 *
 * For the Hyperdrive path (the Worker's `pg` over TCP), the bridge can also relay plain TCP to
 * one Postgres (`relayTo`): miniflare's local Hyperdrive connects to the relay, so the same
 * `/clients/close` and `/stats` serve tests of both paths. The relay passes bytes through as they
 * are: pooling and authentication are Hyperdrive's (and, locally, the Worker's driver's).
 *
 * For measuring a database far from the Worker, the bridge can add round-trip time to everything
 * the Worker exchanges with Postgres through it (`databaseDelayMs`): half on each way of a
 * WebSocket, so every statement's round trip costs it once, and all of it before a `POST /sql` is
 * answered. The TCP relay is left as it is.
 *
 * The bridge logs in to the server itself (any method the server asks for) with the client's
 * user, database and password; a client is accepted only once a login with its credentials
 * has succeeded, so a wrong password fails as it would against the server.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import { createConnection, createServer as createTcpServer, isIPv4, type Socket } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import {
  authenticationRequest,
  CANCEL_REQUEST_CODE,
  errorResponse,
  GSSENC_REQUEST_CODE,
  LoginRefused,
  loginToServer,
  type Message,
  MessageReader,
  message,
  PROTOCOL_3,
  readyForQuery,
  type ServerLogin,
  SSL_REQUEST_CODE,
  startupParameters,
  terminate,
} from "./pg-wire";
import { answerSqlOverHttp } from "./sql-over-http";

export interface DbBridge {
  /** `127.0.0.1:PORT`, the value of the Worker's LOCAL_DB_PROXY. */
  proxy: string;
  port: number;
  /** `127.0.0.1:PORT` of the TCP relay to `relayTo`, when one was asked for. */
  relay?: string;
  /** What the bridge has done so far. */
  stats(): BridgeStats;
  /** Sets the round-trip time added to the Worker's database traffic from now on (connections open keep theirs). */
  setDatabaseDelay(ms: number): void;
  /** Drops every live connection and stops listening. */
  close(): Promise<void>;
}

export interface BridgeStats {
  /** Client connections accepted (WebSockets, and TCP connections to the relay). */
  clientConnections: number;
  /** Statements (or batches) received over HTTP, as by Neon's SQL-over-HTTP endpoint: no connection each. */
  sqlOverHttpRequests: number;
  /** Logins to the server: each one a new Postgres backend (and, on this machine, a SCRAM exchange). */
  serverLogins: number;
  /** Server connections open now, lent or idle. */
  serverConnectionsOpen: number;
  /** Statements clients sent (each Sync of an extended query, each simple Query), by database name. */
  statementsByDatabase: Record<string, number>;
}

/** Server connections per pool (one pool per server, user, database and password) at most. */
const MAX_SERVER_CONNECTIONS = 32;
/**
 * An idle server connection is closed after this long, so the bridge holds no backends it does
 * not use (the tests open many databases on one small PostgreSQL). Neon's PgBouncer keeps them
 * far longer (its default `server_idle_timeout` is 600 s), which the bench asks for.
 */
const DEFAULT_SERVER_IDLE_MS = 10_000;

/**
 * Starts the bridge on 127.0.0.1 (a random port unless one is given). Besides WebSockets and
 * `POST /sql` it answers `POST /clients/close`, which drops every client connection at once (as a restart of
 * Neon's proxy would), for tests of what survives a lost database connection, and `GET /stats`
 * (BridgeStats), for tests that count connections.
 */
export async function startDbBridge(
  options: { port?: number; relayTo?: string; databaseDelayMs?: number; serverIdleMs?: number } = {},
): Promise<DbBridge> {
  let databaseDelayMs = options.databaseDelayMs ?? 0;
  const http = createServer((request, response) => {
    if (request.method === "POST" && request.url === "/clients/close") {
      const clients = [...server.clients];
      for (const ws of clients) ws.terminate();
      const relayed = [...relaySockets];
      for (const socket of relayed) socket.destroy();
      const closed = clients.length + relayed.length;
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ closed }));
      return;
    }
    if (request.method === "POST" && request.url === "/sql") {
      sqlOverHttpRequests++;
      after(databaseDelayMs, () => {
        void answerSqlOverHttp(request, response, {
          lenderFor: poolFor,
          loopbackTarget: (host, port) => loopbackTarget(`/?address=${host}:${port}`),
          countStatements: (database, count) => {
            statementsByDatabase[database] = (statementsByDatabase[database] ?? 0) + count;
          },
        });
      });
      return;
    }
    if (request.method === "GET" && request.url === "/stats") {
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(stats()));
      return;
    }
    response.writeHead(404).end();
  });
  const server = new WebSocketServer({ server: http });
  http.listen(options.port ?? 0, "127.0.0.1");
  const pools = new Map<string, ServerPool>();
  const statementsByDatabase: Record<string, number> = {};
  let clientConnections = 0;
  let sqlOverHttpRequests = 0;
  // One pool per server, user, database and password, as PgBouncer keys its pools: WebSocket
  // clients and HTTP statements share the logged-in connections (a connection logs in with the
  // startup parameters of the client that needed it first).
  const poolFor = (target: { host: string; port: number }, parameters: Record<string, string>, password: string) => {
    const key = JSON.stringify([target, parameters.user, parameters.database, password]);
    let pool = pools.get(key);
    if (!pool) {
      pool = new ServerPool(
        () => loginToServer(target, parameters, password),
        options.serverIdleMs ?? DEFAULT_SERVER_IDLE_MS,
      );
      pools.set(key, pool);
    }
    return pool;
  };
  const allPools = () => [...pools.values()];
  const stats = (): BridgeStats => ({
    clientConnections,
    sqlOverHttpRequests,
    serverLogins: allPools().reduce((sum, pool) => sum + pool.logins, 0),
    serverConnectionsOpen: allPools().reduce((sum, pool) => sum + pool.open, 0),
    statementsByDatabase: { ...statementsByDatabase },
  });

  server.on("connection", (ws, request) => {
    const target = loopbackTarget(request.url);
    if (!target) {
      // The bridge listens on loopback, but must not become a relay from the Worker to any host.
      ws.close(1008, "address must be a loopback host:port");
      return;
    }
    clientConnections++;
    new ClientSession(
      ws,
      statementsByDatabase,
      (parameters, password) => poolFor(target, parameters, password),
      databaseDelayMs / 2,
    );
  });

  await once(http, "listening");
  const { port } = http.address() as { port: number };

  const relaySockets = new Set<Socket>();
  const relay = options.relayTo ? createTcpServer() : undefined;
  if (relay && options.relayTo) {
    const target = new URL(`tcp://${options.relayTo}`);
    relay.on("connection", (client) => {
      clientConnections++;
      const server = createConnection({ host: target.hostname, port: Number(target.port) });
      relaySockets.add(client);
      // A side that fails or hangs up takes the other with it, as a lost network path would.
      for (const socket of [client, server]) socket.on("error", () => {});
      client.on("close", () => {
        relaySockets.delete(client);
        server.destroy();
      });
      server.on("close", () => client.destroy());
      client.pipe(server);
      server.pipe(client);
    });
    relay.listen(0, "127.0.0.1");
    await once(relay, "listening");
  }
  const relayPort = relay && (relay.address() as { port: number }).port;

  return {
    proxy: `127.0.0.1:${port}`,
    port,
    relay: relayPort ? `127.0.0.1:${relayPort}` : undefined,
    stats,
    setDatabaseDelay(ms) {
      databaseDelayMs = ms;
    },
    async close() {
      for (const socket of relaySockets) socket.destroy();
      if (relay) await new Promise<void>((resolve) => relay.close(() => resolve()));
      for (const ws of server.clients) ws.terminate();
      for (const pool of allPools()) pool.close();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      http.closeAllConnections();
      await new Promise<void>((resolve, reject) => http.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** A logged-in server connection and what the client is told about the server. */
interface ServerConnection extends ServerLogin {
  /** Called when the server hangs up or fails, whether the connection is lent or idle. */
  onLost?: () => void;
  idleTimer?: NodeJS.Timeout;
}

/** Logged-in connections to one server as one user, lent to one client at a time. */
class ServerPool {
  logins = 0;
  open = 0;
  private readonly idle: ServerConnection[] = [];
  private readonly waiting: Array<(connection: ServerConnection) => void> = [];
  private closed = false;

  constructor(
    private readonly login: () => Promise<ServerLogin>,
    private readonly idleMs: number,
  ) {}

  /** An idle connection, a new one when under the cap, or the next one given back. */
  async acquire(): Promise<ServerConnection> {
    const idle = this.idle.pop();
    if (idle) {
      clearTimeout(idle.idleTimer);
      return idle;
    }
    if (this.open >= MAX_SERVER_CONNECTIONS) return new Promise((resolve) => this.waiting.push(resolve));
    return this.connect();
  }

  /** Logs in a new server connection. */
  private async connect(): Promise<ServerConnection> {
    this.open++;
    this.logins++;
    let login: ServerLogin;
    try {
      login = await this.login();
    } catch (error) {
      this.open--;
      throw error;
    }
    const connection: ServerConnection = login;
    const lost = () => {
      if (!connection.socket.destroyed) connection.socket.destroy();
      const index = this.idle.indexOf(connection);
      if (index >= 0) this.idle.splice(index, 1);
      clearTimeout(connection.idleTimer);
      if (connection.onLost) connection.onLost();
      connection.onLost = undefined;
    };
    connection.socket.on("error", lost);
    connection.socket.once("close", () => {
      this.open--;
      lost();
      // A lost connection makes room for one a client is waiting for.
      const next = this.closed ? undefined : this.waiting.shift();
      if (next) {
        this.connect().then(next, () => {
          this.waiting.unshift(next);
        });
      }
    });
    if (this.closed) connection.socket.destroy();
    return connection;
  }

  /** Takes back a connection between transactions, for the next client. */
  release(connection: ServerConnection): void {
    connection.onLost = undefined;
    connection.socket.removeAllListeners("data");
    if (this.closed) {
      this.discard(connection);
      return;
    }
    const next = this.waiting.shift();
    if (next) {
      next(connection);
      return;
    }
    connection.idleTimer = setTimeout(() => this.discard(connection), this.idleMs).unref();
    this.idle.push(connection);
  }

  /** Closes a connection whose state is unknown (its client left mid-transaction) or no longer wanted. */
  discard(connection: ServerConnection): void {
    connection.onLost = undefined;
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    clearTimeout(connection.idleTimer);
    connection.socket.end(terminate());
    connection.socket.destroySoon();
    // PGlite keeps a connection open after Terminate; the destroy below does not wait for it.
    setTimeout(() => connection.socket.destroy(), 1_000).unref();
  }

  close(): void {
    this.closed = true;
    for (const connection of [...this.idle]) this.discard(connection);
  }
}

/**
 * One client connection: the startup and password exchange answered by the bridge, then
 * statements passed to whichever pooled server connection it is lent, and results passed back.
 */
class ClientSession {
  private readonly reader = new MessageReader(true);
  private pool?: ServerPool;
  private server?: ServerConnection;
  private parameters: Record<string, string> = {};
  private phase: "startup" | "password" | "authenticating" | "ready" | "closed" = "startup";
  /** Messages waiting for a server connection (or for the login to finish). */
  private queued: Buffer[] = [];
  private acquiring = false;
  /** Syncs and simple queries sent to the server and not yet answered by ReadyForQuery. */
  private unanswered = 0;
  /** Whether the client sent messages after its last Sync (an extended query still being written). */
  private midQuery = false;
  /** The transaction status of the last ReadyForQuery: I (idle), T (in a transaction), E (failed one). */
  private transactionStatus = "I";
  private readonly serverReader = new MessageReader();

  constructor(
    private readonly ws: WebSocket,
    private readonly statements: Record<string, number>,
    private readonly poolFor: (parameters: Record<string, string>, password: string) => ServerPool,
    /** Added to each way between the client and the bridge (half the added round trip). */
    private readonly oneWayDelayMs: number,
  ) {
    ws.on("message", (data) =>
      after(oneWayDelayMs, () => {
        // ws delivers binary frames as one Buffer (its default binaryType); the driver sends nothing else.
        // The reader stops after each untyped message (its type depends on the one before), so read on until it has none.
        for (let chunk = data as Buffer, messages = this.reader.push(chunk); messages.length > 0; ) {
          for (const received of messages) this.onClientMessage(received);
          chunk = Buffer.alloc(0);
          messages = this.reader.push(chunk);
        }
      }),
    );
    // After the messages that came before it.
    ws.on("close", () => after(oneWayDelayMs, () => this.end()));
    ws.on("error", () => after(oneWayDelayMs, () => this.end()));
  }

  /** Sends to the client (after the one-way delay, if any, as a far client would receive it). */
  private send(data: Buffer): void {
    after(this.oneWayDelayMs, () => {
      if (this.ws.readyState === this.ws.OPEN) this.ws.send(data);
    });
  }

  /** Closes the client's connection once what was sent before has arrived. */
  private close(code?: number, reason?: string): void {
    after(this.oneWayDelayMs, () => this.ws.close(code, reason));
  }

  private onClientMessage(received: Message): void {
    if (this.phase === "startup") {
      this.onStartup(received);
      return;
    }
    if (this.phase === "password") {
      if (received.type !== "p".charCodeAt(0)) {
        this.fail("28000", "expected a password message");
        return;
      }
      this.phase = "authenticating";
      void this.authenticate(received.body.subarray(0, received.body.indexOf(0)).toString("utf8"));
      return;
    }
    if (received.type === "X".charCodeAt(0)) {
      // Terminate ends the client's session, never the pooled server's (PGlite would not hang up anyway).
      this.end();
      this.close();
      return;
    }
    this.queued.push(received.raw);
    this.flush();
  }

  private onStartup({ body }: Message): void {
    const code = body.readInt32BE(0);
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      // No TLS inside the tunnel: the WebSocket is the transport, as with Neon's proxy.
      this.send(Buffer.from("N"));
      return;
    }
    if (code === CANCEL_REQUEST_CODE || code !== PROTOCOL_3) {
      // A cancel names a backend, and in transaction mode no backend is the client's own.
      this.close();
      return;
    }
    this.parameters = startupParameters(body);
    this.reader.typed();
    this.phase = "password";
    this.send(authenticationRequest(3));
  }

  /** Accepts the client once its credentials log in to the server (or are those of a pooled login). */
  private async authenticate(password: string): Promise<void> {
    this.pool = this.poolFor(this.parameters, password);
    let server: ServerConnection;
    try {
      server = await this.pool.acquire();
    } catch (error) {
      if (error instanceof LoginRefused) {
        this.send(error.response);
        this.close();
      } else this.fail("08006", `the bridge could not reach the server: ${(error as Error).message}`);
      return;
    }
    if (this.phase === "closed") {
      this.pool.release(server);
      return;
    }
    // No server is the client's own, so its cancel key names none.
    const backendKey = Buffer.alloc(8);
    this.send(
      Buffer.concat([
        authenticationRequest(0),
        ...server.parameterStatus,
        message("K", backendKey),
        readyForQuery("I"),
      ]),
    );
    this.phase = "ready";
    // The driver's first query usually came with the password: it goes to the server that checked it.
    if (this.queued.length > 0) this.attach(server);
    else this.pool.release(server);
    this.flush();
  }

  /** Sends what is queued to the client's server connection, borrowing one first if it has none. */
  private flush(): void {
    if (this.phase !== "ready" || this.queued.length === 0) return;
    if (this.server) {
      for (const raw of this.queued) this.forward(raw);
      this.queued = [];
      return;
    }
    if (this.acquiring || !this.pool) return;
    this.acquiring = true;
    this.pool.acquire().then(
      (server) => {
        this.acquiring = false;
        if (this.phase === "closed") {
          this.queued = [];
          this.pool?.release(server);
          return;
        }
        this.attach(server);
        this.flush();
      },
      (error: Error) => {
        this.acquiring = false;
        this.fail("08006", `the bridge could not reach the server: ${error.message}`);
      },
    );
  }

  private forward(raw: Buffer): void {
    const type = String.fromCharCode(raw[0]);
    if (type === "S" || type === "Q") {
      const database = this.parameters.database ?? "";
      this.statements[database] = (this.statements[database] ?? 0) + 1;
      this.unanswered++;
      this.midQuery = false;
    } else this.midQuery = true;
    this.server?.socket.write(raw);
  }

  private attach(server: ServerConnection): void {
    this.server = server;
    server.onLost = () => {
      this.server = undefined;
      this.close(1011, "the server connection was lost");
    };
    server.socket.on("data", (chunk: Buffer) => this.onServerData(chunk));
    server.socket.resume();
  }

  private onServerData(chunk: Buffer): void {
    this.send(chunk);
    for (const { type, body } of this.serverReader.push(chunk)) {
      if (type !== "Z".charCodeAt(0)) continue;
      this.unanswered--;
      this.transactionStatus = String.fromCharCode(body[0]);
    }
    if (this.betweenTransactions() && this.server) {
      const server = this.server;
      this.server = undefined;
      this.pool?.release(server);
      this.flush();
    }
  }

  /** Whether the server connection holds nothing of this client's: no transaction, no query under way. */
  private betweenTransactions(): boolean {
    return this.unanswered === 0 && !this.midQuery && this.transactionStatus === "I" && this.serverReader.pending === 0;
  }

  private fail(code: string, text: string): void {
    this.send(errorResponse(code, text));
    this.close();
  }

  /** The client has gone: its server connection goes back to the pool if it is between transactions. */
  private end(): void {
    this.phase = "closed";
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    if (this.betweenTransactions()) this.pool?.release(server);
    else this.pool?.discard(server);
  }
}

/** The `?address=host:port` of a connection request, when it names a loopback host. */
function loopbackTarget(requestUrl: string | undefined): { host: string; port: number } | undefined {
  const address = new URL(requestUrl ?? "/", "ws://bridge").searchParams.get("address") ?? "";
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  const port = Number(address.slice(colon + 1));
  const loopback = host === "localhost" || host === "::1" || (isIPv4(host) && host.startsWith("127."));
  return loopback && Number.isInteger(port) && port > 0 && port < 65536 ? { host, port } : undefined;
}

/** Runs `work` after `ms`, or at once when there is no delay. Timers of one delay fire in the order they were set, so messages keep theirs. */
function after(ms: number, work: () => void): void {
  if (ms > 0) setTimeout(work, ms);
  else work();
}
