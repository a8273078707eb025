/**
 * A real HTTP receiver for callbacks. It records every request it gets, and its answer is
 * chosen by the path, so each test picks its target's behaviour by URL:
 *   /ok/…                 200
 *   /status/<code>/…      that status (a 3xx carries a Location header)
 *   /flaky/<n>/…          500 for the first n requests to this exact path, then 200
 *   /slow/<ms>/…          200 after ms milliseconds
 *   /retry-after/<v>/…    503 with `Retry-After: v`
 *   /large/<n>/…          200 with a body of n bytes ("x" repeated), its length announced
 *   /chunked/<n>/…        the same body sent in 1 KiB chunks, its length not announced
 *   /hangup/…             no answer: the connection is reset once the request has arrived
 *   /nul/…                200 with a body holding NUL characters (binary answers do), which Postgres text cannot store
 *   /redirect/<code>/<id> that 3xx, pointing at /ok/<id>-followed on this same receiver
 * Tests read what a path received with GET /__inbox?path=<path>, and the most requests it
 * had in flight at once since the last POST /__concurrency/reset with GET /__concurrency.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { ReceivedRequest } from "../support/received-request";

export interface Receiver {
  url: string;
  close(): Promise<void>;
}

/** Starts the receiver on a random loopback port. */
export async function startReceiver(): Promise<Receiver> {
  const received: ReceivedRequest[] = [];
  let inFlight = 0;
  let peakInFlight = 0;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://receiver");
    res.setHeader("content-type", "application/json");
    if (url.pathname === "/__inbox") {
      const path = url.searchParams.get("path");
      res.end(JSON.stringify(received.filter((r) => r.path === path)));
      return;
    }
    if (url.pathname === "/__concurrency") {
      if (req.method === "POST") peakInFlight = 0;
      res.end(JSON.stringify({ peakInFlight }));
      return;
    }
    inFlight++;
    peakInFlight = Math.max(peakInFlight, inFlight);
    const answered: { at?: number } = {};
    res.on("close", () => {
      inFlight--;
      answered.at = Date.now();
    });
    const record: ReceivedRequest = {
      method: req.method ?? "",
      path: url.pathname,
      headers: flattenHeaders(req),
      body: await readBody(req),
      receivedAt: Date.now(),
      get answeredAt() {
        return answered.at;
      },
    };
    received.push(record);
    const [, kind, arg] = url.pathname.split("/");
    const seen = received.filter((r) => r.path === record.path).length;
    switch (kind) {
      case "status":
        if (Number(arg) >= 300 && Number(arg) < 400) res.setHeader("location", "http://127.0.0.1:1/elsewhere");
        res.statusCode = Number(arg);
        break;
      case "flaky":
        res.statusCode = seen <= Number(arg) ? 500 : 200;
        break;
      case "slow":
        await new Promise((resolve) => setTimeout(resolve, Number(arg)));
        break;
      case "redirect":
        res.statusCode = Number(arg);
        res.setHeader("location", `/ok/${url.pathname.split("/")[3]}-followed`);
        break;
      case "retry-after":
        res.statusCode = 503;
        res.setHeader("retry-after", decodeURIComponent(arg));
        break;
      case "large":
        res.end("x".repeat(Number(arg)));
        return;
      case "echo":
        // Answers with the request's own headers, as httpbin-style echo services do.
        res.statusCode = Number(arg);
        res.end(JSON.stringify(record.headers));
        return;
      case "nul":
        res.end("a\u0000b\u0000");
        return;
      case "hangup":
        req.socket.resetAndDestroy();
        return;
      case "chunked":
        for (let sent = 0; sent < Number(arg); sent += 1024) res.write("x".repeat(Math.min(1024, Number(arg) - sent)));
        res.end();
        return;
    }
    res.end(JSON.stringify({ path: record.path, seen }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
