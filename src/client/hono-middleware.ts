/**
 * `@fliq/client/hono`: `fliqVerify()`, Hono middleware that lets only genuine, fresh, first-time Fliq callbacks
 * through to the route, and hands the route the verified callback as `c.var.fliqCallback`.
 *
 *   app.post("/api/send-welcome", fliqVerify({ secrets: (c) => c.env.FLIQ_SIGNING_SECRET }), (c) => {
 *     const { payload, webhookId } = c.var.fliqCallback;
 *   });
 *
 * Refusals answer in Fliq's error shape: 401 for a missing, bad or stale signature, 409 for a
 * replay. A 4xx is a permanent failure to Fliq, so it does not retry a refused callback. A
 * missing or malformed secret is a fault of the receiver: it is thrown (a 500, which Fliq retries).
 */
import type { Context, MiddlewareHandler } from "hono";
import { MemoryReplayStore, type ReplayStore } from "./replay-store.js";
import {
  type CallbackSecrets,
  CallbackVerificationError,
  DEFAULT_TOLERANCE_SECONDS,
  type VerifiedCallback,
  verifyCallbackParts,
} from "./verify-callback.js";

export interface FliqVerifyOptions<E extends { Bindings?: object }> {
  /** The `whsec_` secret(s) to accept, or a function reading them from the request's env. */
  secrets: CallbackSecrets | ((c: Context<E>) => CallbackSecrets | Promise<CallbackSecrets>);
  /** How far a callback's timestamp may be from now (300 s by default). */
  toleranceSeconds?: number;
  /** Where accepted callbacks are remembered to refuse replays; a per-isolate MemoryReplayStore by default. */
  replayStore?: ReplayStore;
}

/** What fliqVerify adds to the context. */
export interface FliqVerifyVariables {
  fliqCallback: VerifiedCallback;
}

/** The middleware; see the module comment. */
export function fliqVerify<E extends { Bindings?: object; Variables?: object }>(
  options: FliqVerifyOptions<E>,
): MiddlewareHandler<E & { Variables: FliqVerifyVariables }> {
  const toleranceSeconds = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const store = options.replayStore ?? new MemoryReplayStore();
  return async (c, next) => {
    const secrets =
      typeof options.secrets === "function" ? await options.secrets(c as unknown as Context<E>) : options.secrets;
    let callback: VerifiedCallback;
    try {
      // c.req.text() keeps the body, so the route can still read it (or c.req.json()).
      callback = await verifyCallbackParts(c.req.raw.headers, await c.req.text(), secrets, { toleranceSeconds });
    } catch (error) {
      // No usable secret is this receiver's fault, not the sender's: a 500, which Fliq retries once it is fixed.
      if (!(error instanceof CallbackVerificationError) || error.code === "invalid_secret") throw error;
      return c.json({ error: { code: error.code, message: error.message, details: [] } }, 401);
    }
    // One signed message is one (id, timestamp): Fliq signs every attempt at its own time.
    const key = `${callback.webhookId}.${Math.floor(callback.timestamp.getTime() / 1000)}`;
    const expiresAt = callback.timestamp.getTime() + toleranceSeconds * 1000;
    if (!(await store.remember(key, expiresAt))) {
      const message = "This signed callback was already received; a replay is refused.";
      return c.json({ error: { code: "replayed_callback", message, details: [] } }, 409);
    }
    c.set("fliqCallback", callback);
    try {
      await next();
    } catch (error) {
      await store.forget(key);
      throw error;
    }
    // A delivery the route did not complete may come again (Fliq retries with a new timestamp anyway).
    if (c.error || c.res.status >= 300) await store.forget(key);
  };
}
