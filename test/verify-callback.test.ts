/**
 * The receiving side: verifyCallback against real callbacks signed by Fliq, cross-checked with
 * the `standardwebhooks` library both ways, each boundary of the timestamp tolerance, secret
 * rotation, and the Hono middleware's refusals (unsigned, bad, stale, replayed).
 */
import { Hono } from "hono";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { generateSigningSecret, signWebhook } from "../src/auth/webhook-signature";
import { type FliqVerifyVariables, fliqVerify } from "../src/client/hono-middleware";
import { CallbackVerificationError, MemoryReplayStore, verifyCallback } from "../src/client/receive";
import { callApi, receivedAt, receiverUrl, tickNow, useTestProject } from "./support/fliq";

const { token, signingSecret } = await useTestProject();

const body = JSON.stringify({ email: "user@example.com" });
const sentAt = new Date("2026-11-28T12:00:00Z");
const sentAtSeconds = sentAt.getTime() / 1000;

/** A callback as Fliq would send it, signed with `secrets` at `at`. */
async function signedRequest(secrets: string[], options: { at?: Date; id?: string; body?: string } = {}) {
  const id = options.id ?? `msg_${crypto.randomUUID().replaceAll("-", "")}`;
  const timestampSeconds = Math.floor((options.at ?? sentAt).getTime() / 1000);
  const payload = options.body ?? body;
  const signature = await signWebhook(secrets, { id, timestampSeconds, body: payload });
  return new Request("https://receiver.example/api/send-welcome", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(timestampSeconds),
      "webhook-signature": signature,
      "fliq-job-id": "0b6f3c6e-8f7e-4a59-9d43-3f0f2b3f8a10",
      "fliq-attempt": "2",
      "fliq-scheduled-at": "2026-11-28T11:59:59.000Z",
    },
    body: payload,
  });
}

async function refusalOf(verification: Promise<unknown>): Promise<string> {
  const error = await verification.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CallbackVerificationError);
  return (error as CallbackVerificationError).code;
}

describe("verifyCallback on a real Fliq callback", () => {
  it("verifies what Fliq delivered, and the standardwebhooks library agrees", async () => {
    const url = receiverUrl("ok");
    const created = await callApi("POST", "/jobs", {
      token,
      json: { url, delay: "1h", headers: { "Content-Type": "application/json" }, body },
    });
    await callApi("POST", `/jobs/${created.body.id}/run`, { token });
    await tickNow();
    const [delivered] = await receivedAt(url);
    expect(delivered).toBeDefined();
    const request = new Request(url, { method: "POST", headers: delivered.headers, body: delivered.body });

    const verified = await verifyCallback<{ email: string }>(request, signingSecret);
    expect(verified).toEqual({
      webhookId: created.body.webhook_id,
      timestamp: new Date(Number(delivered.headers["webhook-timestamp"]) * 1000),
      body,
      payload: { email: "user@example.com" },
      jobId: created.body.id,
      attempt: 1,
      scheduledAt: new Date(created.body.scheduled_at),
    });
    expect(new Webhook(signingSecret).verify(delivered.body, delivered.headers)).toEqual({
      email: "user@example.com",
    });
  });

  it("accepts a message the standardwebhooks library signed, and the library accepts Fliq's", async () => {
    const secret = generateSigningSecret();
    const id = "msg_library";
    const now = new Date();
    const librarySignature = new Webhook(secret).sign(id, now, body);
    const request = new Request("https://receiver.example/", {
      method: "POST",
      headers: {
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
        "webhook-signature": librarySignature,
      },
      body,
    });
    const verified = await verifyCallback(request, secret);
    expect(verified).toMatchObject({ webhookId: id, jobId: null, attempt: null, scheduledAt: null });

    const fliqSigned = await signedRequest([secret], { at: now });
    const headers = Object.fromEntries(fliqSigned.headers);
    expect(() => new Webhook(secret).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(secret).verify(`${body} `, headers)).toThrow();
  });
});

describe("verifyCallback's checks", () => {
  const secret = generateSigningSecret();

  it("reads Fliq's metadata", async () => {
    const verified = await verifyCallback(await signedRequest([secret]), secret, { now: sentAt });
    expect(verified).toMatchObject({
      jobId: "0b6f3c6e-8f7e-4a59-9d43-3f0f2b3f8a10",
      attempt: 2,
      scheduledAt: new Date("2026-11-28T11:59:59.000Z"),
      timestamp: sentAt,
    });
  });

  it("accepts a timestamp exactly at the tolerance either way, and refuses one second beyond", async () => {
    const at = (deltaSeconds: number) => ({ now: new Date((sentAtSeconds + deltaSeconds) * 1000) });
    await expect(verifyCallback(await signedRequest([secret]), secret, at(300))).resolves.toBeDefined();
    await expect(verifyCallback(await signedRequest([secret]), secret, at(-300))).resolves.toBeDefined();
    expect(await refusalOf(verifyCallback(await signedRequest([secret]), secret, at(301)))).toBe("timestamp_too_old");
    expect(await refusalOf(verifyCallback(await signedRequest([secret]), secret, at(-301)))).toBe("timestamp_too_new");
    const tight = { ...at(11), toleranceSeconds: 10 };
    expect(await refusalOf(verifyCallback(await signedRequest([secret]), secret, tight))).toBe("timestamp_too_old");
  });

  it("accepts any of several secrets during a rotation", async () => {
    const [oldSecret, newSecret, otherSecret] = [generateSigningSecret(), generateSigningSecret(), secret];
    const options = { now: sentAt };
    // Fliq signs with both while the old secret is in its grace period; either verifies.
    const both = () => signedRequest([oldSecret, newSecret]);
    await expect(verifyCallback(await both(), oldSecret, options)).resolves.toBeDefined();
    await expect(verifyCallback(await both(), [newSecret], options)).resolves.toBeDefined();
    // A receiver holding both accepts a message signed with only the new one.
    await expect(
      verifyCallback(await signedRequest([newSecret]), `${oldSecret},${newSecret}`, options),
    ).resolves.toBeDefined();
    await expect(
      verifyCallback(await signedRequest([newSecret]), `${oldSecret} ${newSecret}`, options),
    ).resolves.toBeDefined();
    expect(await refusalOf(verifyCallback(await both(), [otherSecret], options))).toBe("invalid_signature");
  });

  it("refuses a changed body, id or timestamp", async () => {
    const original = await signedRequest([secret]);
    const tampered = (change: (headers: Headers) => void, newBody = body) => {
      const headers = new Headers(original.headers);
      change(headers);
      return new Request(original.url, { method: "POST", headers, body: newBody });
    };
    const options = { now: sentAt };
    expect(
      await refusalOf(
        verifyCallback(
          tampered(() => {}, `${body} `),
          secret,
          options,
        ),
      ),
    ).toBe("invalid_signature");
    expect(
      await refusalOf(
        verifyCallback(
          tampered((h) => h.set("webhook-id", "msg_x")),
          secret,
          options,
        ),
      ),
    ).toBe("invalid_signature");
    const later = tampered((h) => h.set("webhook-timestamp", String(sentAtSeconds + 1)));
    expect(await refusalOf(verifyCallback(later, secret, options))).toBe("invalid_signature");
  });

  it("refuses missing headers, a malformed timestamp, malformed signatures and bad secrets", async () => {
    const options = { now: sentAt };
    const without = async (name: string) => {
      const request = await signedRequest([secret]);
      const headers = new Headers(request.headers);
      headers.delete(name);
      return new Request(request.url, { method: "POST", headers, body });
    };
    for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
      expect(await refusalOf(verifyCallback(await without(name), secret, options))).toBe("missing_headers");
    }
    const withHeader = async (name: string, value: string) => {
      const request = await signedRequest([secret]);
      const headers = new Headers(request.headers);
      headers.set(name, value);
      return new Request(request.url, { method: "POST", headers, body });
    };
    expect(await refusalOf(verifyCallback(await withHeader("webhook-timestamp", "12.5"), secret, options))).toBe(
      "invalid_timestamp",
    );
    for (const signature of ["v1,!!!", "v2,AAAA", "garbage", "v1,"]) {
      const request = await withHeader("webhook-signature", signature);
      expect(await refusalOf(verifyCallback(request, secret, options))).toBe("invalid_signature");
    }
    // A valid signature among malformed ones still verifies.
    const good = (await signedRequest([secret], { id: "msg_fixed" })).headers.get("webhook-signature");
    const mixed = await signedRequest([secret], { id: "msg_fixed" });
    mixed.headers.set("webhook-signature", `v1,!!! v2,AAAA ${good}`);
    await expect(verifyCallback(mixed, secret, options)).resolves.toMatchObject({ webhookId: "msg_fixed" });
    expect(await refusalOf(verifyCallback(await signedRequest([secret]), "whsec_***", options))).toBe("invalid_secret");
    expect(await refusalOf(verifyCallback(await signedRequest([secret]), " , ", options))).toBe("invalid_secret");
  });
});

describe("fliqVerify middleware", () => {
  interface Env {
    Bindings: { FLIQ_SIGNING_SECRET: string };
    Variables: FliqVerifyVariables;
  }

  /** A receiver app that records what its route saw, and fails on demand. */
  function receiverApp(replayStore = new MemoryReplayStore()) {
    const seen: Array<{ webhookId: string; email: string }> = [];
    let failNext = false;
    const app = new Hono<Env>();
    app.post(
      "/api/send-welcome",
      fliqVerify<Env>({ secrets: (c) => c.env.FLIQ_SIGNING_SECRET, replayStore }),
      async (c) => {
        if (failNext) {
          failNext = false;
          return c.json({ ok: false }, 503);
        }
        // The body is still readable after verification.
        const { email } = await c.req.json<{ email: string }>();
        seen.push({ webhookId: c.var.fliqCallback.webhookId, email });
        return c.json({ ok: true });
      },
    );
    return { app, seen, failOnce: () => (failNext = true) };
  }

  const secret = generateSigningSecret();
  const env = { FLIQ_SIGNING_SECRET: secret };
  const fresh = () => signedRequest([secret], { at: new Date() });
  const errorCode = async (response: Response) => ((await response.json()) as { error: { code: string } }).error.code;

  it("lets a genuine callback through with its verified metadata", async () => {
    const { app, seen } = receiverApp();
    const request = await fresh();
    const response = await app.request(request, undefined, env);
    expect(response.status).toBe(200);
    expect(seen).toEqual([{ webhookId: request.headers.get("webhook-id"), email: "user@example.com" }]);
  });

  it("refuses unsigned, badly signed and stale callbacks with 401, before the route runs", async () => {
    const { app, seen } = receiverApp();
    const unsigned = new Request("https://receiver.example/api/send-welcome", { method: "POST", body });
    const unsignedAnswer = await app.request(unsigned, undefined, env);
    expect(unsignedAnswer.status).toBe(401);
    expect(await errorCode(unsignedAnswer)).toBe("missing_headers");

    const otherSecret = await signedRequest([generateSigningSecret()], { at: new Date() });
    const badAnswer = await app.request(otherSecret, undefined, env);
    expect(badAnswer.status).toBe(401);
    expect(await errorCode(badAnswer)).toBe("invalid_signature");

    const stale = await signedRequest([secret], { at: new Date(Date.now() - 301_000) });
    const staleAnswer = await app.request(stale, undefined, env);
    expect(staleAnswer.status).toBe(401);
    expect(await errorCode(staleAnswer)).toBe("timestamp_too_old");
    expect(seen).toEqual([]);
  });

  it("refuses the same signed callback a second time with 409", async () => {
    const { app, seen } = receiverApp();
    const request = await fresh();
    const copy = request.clone();
    expect((await app.request(request, undefined, env)).status).toBe(200);
    const replay = await app.request(copy, undefined, env);
    expect(replay.status).toBe(409);
    expect(await errorCode(replay)).toBe("replayed_callback");
    expect(seen).toHaveLength(1);
  });

  it("accepts the same message again when the route did not complete it", async () => {
    const { app, seen, failOnce } = receiverApp();
    const request = await fresh();
    const copy = request.clone();
    failOnce();
    expect((await app.request(request, undefined, env)).status).toBe(503);
    expect((await app.request(copy, undefined, env)).status).toBe(200);
    expect(seen).toHaveLength(1);
  });

  it("fails with a 500 (which Fliq retries) when the receiver has no secret configured", async () => {
    const { app, seen } = receiverApp();
    const response = await app.request(await fresh(), undefined, {});
    expect(response.status).toBe(500);
    expect(seen).toEqual([]);
  });

  it("shares a replay store between apps (one store, one memory)", async () => {
    const store = new MemoryReplayStore();
    const request = await fresh();
    const copy = request.clone();
    expect((await receiverApp(store).app.request(request, undefined, env)).status).toBe(200);
    expect((await receiverApp(store).app.request(copy, undefined, env)).status).toBe(409);
  });
});

describe("MemoryReplayStore", () => {
  it("remembers a key until it expires", () => {
    let now = 1_000;
    const store = new MemoryReplayStore(100, () => now);
    expect(store.remember("a", 2_000)).toBe(true);
    expect(store.remember("a", 2_000)).toBe(false);
    now = 1_999;
    expect(store.remember("a", 3_000)).toBe(false);
    now = 2_000;
    expect(store.remember("a", 3_000)).toBe(true);
    store.forget("a");
    expect(store.remember("a", 3_000)).toBe(true);
  });

  it("stays within its size, dropping expired entries first, then the oldest", () => {
    let now = 0;
    const store = new MemoryReplayStore(3, () => now);
    store.remember("expires-soon", 10);
    store.remember("old", 1_000);
    store.remember("older-than-new", 1_000);
    now = 20;
    expect(store.remember("new", 1_000)).toBe(true);
    expect(store.remember("old", 1_000)).toBe(false);
    expect(store.remember("newest", 1_000)).toBe(true);
    // Full of live entries: the oldest went to make room.
    expect(store.remember("old", 1_000)).toBe(true);
  });
});
