/**
 * The WebSocket-to-TCP bridge that lets the neon driver (which only speaks WebSocket) reach a
 * Postgres on this machine. The driver opens `ws://127.0.0.1:PORT/?address=host:port`; the bridge
 * opens a TCP socket to that address and pipes bytes both ways.
 */
import { once } from "node:events";
import { connect, isIPv4, type Socket } from "node:net";
import { WebSocketServer } from "ws";

export interface DbBridge {
  /** `127.0.0.1:PORT`, the value of the Worker's LOCAL_DB_PROXY. */
  proxy: string;
  port: number;
  /** Drops every live connection and stops listening. */
  close(): Promise<void>;
}

/** Starts the bridge on 127.0.0.1 (a random port unless one is given). */
export async function startDbBridge(options: { port?: number } = {}): Promise<DbBridge> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: options.port ?? 0 });
  const tcpSockets = new Set<Socket>();

  server.on("connection", (ws, request) => {
    const target = loopbackTarget(request.url);
    if (!target) {
      // The bridge listens on loopback, but must not become a relay from the Worker to any host.
      ws.close(1008, "address must be a loopback host:port");
      return;
    }
    const tcp = connect(target.port, target.host);
    tcpSockets.add(tcp);
    const sawTerminate = terminateWatcher();

    ws.on("message", (data) => {
      // ws delivers binary frames as one Buffer (its default binaryType); the driver sends nothing else.
      const chunk = data as Buffer;
      tcp.write(chunk);
      // PGlite keeps the connection open after Terminate, and the driver waits for the hang-up.
      if (sawTerminate(chunk)) {
        tcp.end();
        ws.close();
      }
    });
    tcp.on("data", (chunk) => ws.send(chunk));
    tcp.on("close", () => {
      tcpSockets.delete(tcp);
      ws.close();
    });
    // An unreachable target or a reset: the reason goes to the client, the close follows.
    tcp.on("error", (error) => ws.close(1011, error.message.slice(0, 120)));
    ws.on("close", () => tcp.end());
    ws.on("error", () => tcp.destroy());
  });

  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    proxy: `127.0.0.1:${port}`,
    port,
    async close() {
      for (const ws of server.clients) ws.terminate();
      for (const tcp of tcpSockets) tcp.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
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

const SSL_REQUEST_CODE = 80877103;
const GSSENC_REQUEST_CODE = 80877104;
const TERMINATE = 0x58; // 'X'

/**
 * Follows the client's side of the Postgres protocol across arbitrarily split frames and
 * reports when a Terminate message arrives. Framing, not byte matching: 'X' 00 00 00 04 can
 * appear inside any query's data. Untyped messages (SSL/GSS requests, then the startup
 * message) have an 8-byte header; every later message a type byte and a length.
 */
function terminateWatcher(): (chunk: Buffer) => boolean {
  let inStartup = true;
  let header = Buffer.alloc(0);
  let bodyLeft = 0;
  return (chunk) => {
    let offset = 0;
    while (offset < chunk.length) {
      if (bodyLeft > 0) {
        const skipped = Math.min(bodyLeft, chunk.length - offset);
        bodyLeft -= skipped;
        offset += skipped;
        continue;
      }
      const headerLength = inStartup ? 8 : 5;
      const taken = chunk.subarray(offset, offset + headerLength - header.length);
      header = Buffer.concat([header, taken]);
      offset += taken.length;
      if (header.length < headerLength) break;
      if (inStartup) {
        const code = header.readInt32BE(4);
        inStartup = code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE;
        bodyLeft = header.readInt32BE(0) - 8;
      } else {
        if (header[0] === TERMINATE) return true;
        bodyLeft = header.readInt32BE(1) - 4;
      }
      header = Buffer.alloc(0);
    }
    return false;
  };
}
