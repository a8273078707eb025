/**
 * The bench's ceiling: the bare cost of callbacks in this machine's workerd, with none of Fliq
 * around them. `GET /?callbacks=N&lanes=K&url=U` makes N callbacks to U, K at a time, each as
 * Fliq makes one (POST, a JSON body, Fliq's headers with a fresh HMAC-SHA256 signature, a
 * timeout signal, no redirects followed, the response read), and answers how long they took.
 * No database, no claims, no results written: what Fliq's engine adds is the difference.
 */
const key = crypto.subtle.importKey("raw", new Uint8Array(32), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
const encoder = new TextEncoder();

async function signature(id, timestamp, body) {
  const bytes = new Uint8Array(
    await crypto.subtle.sign("HMAC", await key, encoder.encode(`${id}.${timestamp}.${body}`)),
  );
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `v1,${btoa(binary)}`;
}

async function callback(url, index) {
  const id = `msg_ceiling_${index}`;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const body = JSON.stringify({ email: "user@example.com" });
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": timestamp,
      "webhook-signature": await signature(id, timestamp, body),
      "fliq-job-id": crypto.randomUUID(),
      "fliq-attempt": "1",
      "fliq-scheduled-at": new Date().toISOString(),
    },
    body,
    redirect: "manual",
    signal: AbortSignal.timeout(15_000),
  });
  await response.text();
  return response.ok;
}

export default {
  async fetch(request) {
    const params = new URL(request.url).searchParams;
    const callbacks = Number(params.get("callbacks"));
    const lanes = Number(params.get("lanes"));
    const url = params.get("url");
    const startedAt = performance.now();
    let next = 0;
    let failed = 0;
    const lane = async () => {
      while (next < callbacks) {
        if (!(await callback(url, next++))) failed++;
      }
    };
    await Promise.all(Array.from({ length: lanes }, lane));
    // performance.now() advances only across I/O in workerd, which each callback is.
    return Response.json({ callbacks, failed, ms: performance.now() - startedAt });
  },
};
