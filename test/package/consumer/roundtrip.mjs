// @ts-check
/**
 * One create → callback → verify round trip, as an outside Node project writes it with the
 * installed package: a receiver on a free port verifies Fliq's signed callback, and the client
 * creates the job and reads it back. Prints one JSON line with what happened.
 */
import { createServer } from "node:http";
import { createFliqClient } from "@fliq/client";
import { verifyCallback } from "@fliq/client/receive";

const { FLIQ_URL, FLIQ_TOKEN, FLIQ_SIGNING_SECRET } = process.env;
if (!FLIQ_URL || !FLIQ_TOKEN || !FLIQ_SIGNING_SECRET)
  throw new Error("set FLIQ_URL, FLIQ_TOKEN and FLIQ_SIGNING_SECRET");
const secret = FLIQ_SIGNING_SECRET;

/** @typedef {import("@fliq/client/receive").VerifiedCallback<{ from: string }>} Callback */
/** @type {(callback: Callback) => void} */
let delivered = () => {};
/** @type {Promise<Callback>} */
const callback = new Promise((resolve) => {
  delivered = resolve;
});

const receiver = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(name, value);
  const request = new Request(`http://receiver${req.url}`, {
    method: req.method,
    headers,
    body: Buffer.concat(chunks),
  });
  try {
    delivered(await verifyCallback(request, secret));
    res.writeHead(200).end("ok");
  } catch (error) {
    res.writeHead(401).end(String(error));
  }
});
await new Promise((resolve) => receiver.listen(0, "127.0.0.1", () => resolve(undefined)));
const address = receiver.address();
if (address === null || typeof address === "string") throw new Error("the receiver has no port");

const fliq = createFliqClient({ baseUrl: FLIQ_URL, token: FLIQ_TOKEN });
const job = await fliq.createJob(
  { url: `http://127.0.0.1:${address.port}/callback`, json: { from: process.version }, labels: { test: "roundtrip" } },
  { idempotencyKey: `roundtrip-${process.version}-${Date.now()}` },
);
const timeout = setTimeout(() => {
  console.error("no callback within 60 s");
  process.exit(1);
}, 60_000);
const verified = await callback;
let read = await fliq.getJob(job.id);
for (let polls = 0; read.status !== "succeeded" && polls < 100; polls++) {
  await new Promise((resolve) => setTimeout(resolve, 200));
  read = await fliq.getJob(job.id);
}
clearTimeout(timeout);
receiver.close();
console.log(
  JSON.stringify({
    node: process.version,
    job: { id: job.id, status: read.status, webhook_id: read.webhook_id, attempts: read.attempts.length },
    verified: {
      jobId: verified.jobId,
      attempt: verified.attempt,
      webhookId: verified.webhookId,
      payload: verified.payload,
    },
  }),
);
