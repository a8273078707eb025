/**
 * Makes one callback: the user's request, exactly, plus Fliq's signed headers, with a
 * timeout and no redirects followed; over the network, or through a service binding for a
 * `service://` URL.
 */
import { signWebhook } from "../auth/webhook-signature";
import type { StartedJob } from "../db/jobs";
import { callbackTargetRefusal, serviceTargetOf, type TargetPolicy, targetPolicyOf } from "../jobs/callback-target";
import type { AttemptResult } from "../jobs/delivery-policy";
import type { Settings } from "../settings";

/** Where an invocation's callbacks may go, and the service bindings that reach Workers by name. */
export interface Outbound {
  policy: TargetPolicy;
  services: ReadonlyMap<string, Fetcher>;
}

/** The deployment's outbound rules and routes. Delivery has no request, so no own host is known. */
export function outboundOf(settings: Settings): Outbound {
  return { policy: targetPolicyOf(settings), services: settings.callbackServices };
}

/** How much of a response body is kept on the attempt record. */
export const RESPONSE_EXCERPT_MAX_CHARS = 1024;

/** A callback ready to send: the request with every header, signature included. */
export interface PreparedCallback {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | null;
  timeoutMs: number;
}

/**
 * Builds the request for a started job, signed for delivery at `sendAt`. Fliq's headers are
 * set last, so a user header can never stand in for them. Signing happens here, ahead of the
 * fire time, to keep crypto off the moment of delivery.
 */
export async function prepareCallback(job: StartedJob, sendAt: Date): Promise<PreparedCallback> {
  const timestampSeconds = Math.floor(sendAt.getTime() / 1000);
  const body = job.body ?? "";
  return {
    url: job.url,
    method: job.httpMethod,
    headers: {
      ...job.headers,
      "webhook-id": job.webhookId,
      "webhook-timestamp": String(timestampSeconds),
      "webhook-signature": await signWebhook(job.signingSecrets, { id: job.webhookId, timestampSeconds, body }),
      "fliq-job-id": job.id,
      "fliq-attempt": String(job.attempt),
      "fliq-scheduled-at": job.scheduledAt.toISOString(),
    },
    body: job.body,
    timeoutMs: job.timeoutMs,
  };
}

/**
 * Sends a prepared callback and reports what happened; never throws. The target is checked
 * against the SSRF policy again here, at every attempt: a URL refused now (the policy is
 * stricter than when the job was stored, or its service is no longer configured) fails the
 * attempt without any call.
 */
export async function sendCallback(callback: PreparedCallback, outbound: Outbound): Promise<AttemptResult> {
  const firedAt = new Date();
  const refusal = callbackTargetRefusal(callback.url, outbound.policy);
  const route = refusal ? null : routeOf(callback.url, outbound.services);
  if (!route) {
    const errorMessage = `url ${refusal ?? "must name a service configured in CALLBACK_SERVICES"}`;
    return { firedAt, durationMs: 0, errorClass: "target_refused", errorMessage };
  }
  const signal = AbortSignal.timeout(callback.timeoutMs);
  try {
    const response = await route.fetcher.fetch(route.url, {
      method: callback.method,
      headers: callback.headers,
      body: callback.body,
      redirect: "manual",
      signal,
    });
    const responseExcerpt = await readExcerpt(response);
    return {
      firedAt,
      durationMs: Date.now() - firedAt.getTime(),
      statusCode: response.status,
      responseExcerpt,
      retryAfter: response.headers.get("retry-after") ?? undefined,
    };
  } catch (error) {
    const timedOut = signal.aborted;
    return {
      firedAt,
      durationMs: Date.now() - firedAt.getTime(),
      errorClass: timedOut ? "timeout" : "network_error",
      errorMessage: timedOut ? `no response within ${callback.timeoutMs} ms` : String(error),
    };
  }
}

/** How a callback reaches its target. */
interface Route {
  fetcher: Pick<Fetcher, "fetch">;
  url: string;
}

/** The network, or the service binding a `service://` URL names (null when none is bound to it). */
function routeOf(url: string, services: ReadonlyMap<string, Fetcher>): Route | null {
  const service = serviceTargetOf(url);
  if (!service) return { fetcher: { fetch: (input, init) => fetch(input, init) }, url };
  const fetcher = services.get(service.service);
  return fetcher ? { fetcher, url: service.requestUrl } : null;
}

/** A body announced at most this long is read whole: cheaper than streaming it piece by piece. */
const READ_WHOLE_MAX_BYTES = 16 * 1024;

/** Reads at most RESPONSE_EXCERPT_MAX_CHARS of the body, then drops the rest unread. */
async function readExcerpt(response: Response): Promise<string> {
  if (!response.body) return "";
  const length = Number(response.headers.get("content-length") ?? Number.NaN);
  if (length <= READ_WHOLE_MAX_BYTES) return (await response.text()).slice(0, RESPONSE_EXCERPT_MAX_CHARS);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (text.length < RESPONSE_EXCERPT_MAX_CHARS) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return text.slice(0, RESPONSE_EXCERPT_MAX_CHARS);
}
