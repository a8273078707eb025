/**
 * A callback target to try Fliq with: answers every request 200 `{"ok":true}` and logs one line
 * per request, showing the headers Fliq adds (fliq-*, webhook-*) and the start of the body.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface SampleReceiver {
  /** `http://127.0.0.1:PORT`; any path under it answers. */
  url: string;
  close(): Promise<void>;
}

const BODY_EXCERPT_CHARS = 200;

/** Starts the receiver on 127.0.0.1 (a random port unless one is given), logging to `log` (console by default). */
export async function startSampleReceiver(
  options: { port?: number; log?: (line: string) => void } = {},
): Promise<SampleReceiver> {
  const log = options.log ?? console.log;
  const server = createServer(async (req, res) => {
    let body: string;
    try {
      body = await readBody(req);
    } catch {
      return; // the client went away mid-request; nothing to answer
    }
    log(describeRequest(req, body));
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ ok: true }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
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

/** `<time> <method> <path> <fliq/webhook headers> body=<excerpt>`, on one line. */
function describeRequest(req: IncomingMessage, body: string): string {
  const fliqHeaders = Object.entries(req.headers)
    .filter(([name]) => name.startsWith("fliq-") || name.startsWith("webhook-"))
    .map(([name, value]) => `${name}=${value}`);
  const excerpt = body.length > BODY_EXCERPT_CHARS ? `${body.slice(0, BODY_EXCERPT_CHARS)}…` : body;
  const parts = [new Date().toISOString(), req.method, req.url, ...fliqHeaders];
  if (body) parts.push(`body=${excerpt.replace(/\s+/g, " ")}`);
  return `[receiver] ${parts.join(" ")}`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
