/**
 * Makes one callback: the user's request, exactly, plus Fliq's signed headers, with a
 * timeout and no redirects followed; over the network, or through a service binding for a
 * `service://` URL.
 */
import { signWebhook } from "../auth/webhook-signature";
import type { StartedJob } from "../db/jobs";
import { callbackTargetRefusal, serviceTargetOf, type TargetPolicy, targetPolicyOf } from "../jobs/callback-target";
import type { AttemptResult, PassedOnResponse } from "../jobs/delivery-policy";
import { JOB_LIMITS } from "../jobs/limits";
import { scrubHeaderValues } from "../jobs/redaction";
import { TIMEOUT_SHARING_MS } from "../jobs/timing";
import type { Settings } from "../settings";
import { diagnoseNetworkFailure, errorKindOf, type NetworkFailure, probeTargetOf } from "./network-failure";

/** Targets remembered per invocation; past this many distinct URLs the memory starts over. */
const ROUTES_REMEMBERED = 1_000;

/**
 * Where an invocation's callbacks may go: the deployment's target policy and the services that
 * reach Workers by name. It lives one invocation, so it remembers each URL's route (the policy
 * is a pure function of the URL) and shares timeout timers between callbacks.
 */
export class Outbound {
  private readonly routes = new Map<string, Route | { refusal: string }>();
  private readonly timeouts = new Map<number, { until: number; signal: AbortSignal }>();
  private readonly diagnoses = new Map<string, Promise<NetworkFailure>>();

  constructor(
    readonly policy: TargetPolicy,
    readonly services: ReadonlyMap<string, Fetcher>,
  ) {}

  /** How a callback to `url` is made, or why it may not be. */
  routeOf(url: string): Route | { refusal: string } {
    let route = this.routes.get(url);
    if (!route) {
      route = routeOf(url, this.policy, this.services);
      if (this.routes.size >= ROUTES_REMEMBERED) this.routes.clear();
      this.routes.set(url, route);
    }
    return route;
  }

  /**
   * Why a fetch to `url` got no answer, named once per target and kind of error in an invocation:
   * a burst of failures against one dead host probes it once (see network-failure.ts).
   */
  diagnose(url: string, error: unknown): Promise<NetworkFailure> {
    const target = probeTargetOf(url);
    const key = `${errorKindOf(error)} ${target.host} ${target.port} ${target.secure}`;
    let diagnosis = this.diagnoses.get(key);
    if (!diagnosis) {
      diagnosis = diagnoseNetworkFailure(url, error);
      if (this.diagnoses.size >= ROUTES_REMEMBERED) this.diagnoses.clear();
      this.diagnoses.set(key, diagnosis);
    }
    return diagnosis;
  }

  /** A signal that aborts at least `timeoutMs` from `now`, and at most TIMEOUT_SHARING_MS later than that. */
  timeoutSignal(timeoutMs: number, now: number): AbortSignal {
    const shared = this.timeouts.get(timeoutMs);
    if (shared && now < shared.until) return shared.signal;
    const signal = AbortSignal.timeout(timeoutMs + TIMEOUT_SHARING_MS);
    this.timeouts.set(timeoutMs, { until: now + TIMEOUT_SHARING_MS, signal });
    return signal;
  }
}

/** The deployment's outbound rules and routes. Delivery has no request, so no own host is known. */
export function outboundOf(settings: Settings): Outbound {
  return new Outbound(targetPolicyOf(settings), settings.callbackServices);
}

/** How much of a response body is kept on the attempt record. */
export const RESPONSE_EXCERPT_MAX_CHARS = 1024;

/** A callback ready to send: the request with every header, signature included. */
export interface PreparedCallback {
  url: string;
  method: string;
  headers: Record<string, string>;
  /**
   * The stored body's UTF-8 bytes. Bytes, not a string: fetch adds `Content-Type:
   * text/plain;charset=UTF-8` to a string body, and the callback must carry only the stored headers.
   */
  body: Uint8Array | null;
  timeoutMs: number;
  /** Whether a success_url is told the response: then its headers and more of its body are read. */
  passOnResponse: boolean;
}

const utf8 = new TextEncoder();

/**
 * Builds the request for a started job, signed for delivery at `sendAtMs`. Fliq's headers are
 * set last, so a user header can never stand in for them. Signing happens here, ahead of the
 * fire time, to keep crypto off the moment of delivery.
 */
export async function prepareCallback(job: StartedJob, sendAtMs: number): Promise<PreparedCallback> {
  const timestampSeconds = Math.floor(sendAtMs / 1000);
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
      "fliq-scheduled-at": new Date(job.scheduledAtMs).toISOString(),
    },
    body: job.body === null ? null : utf8.encode(job.body),
    timeoutMs: job.timeoutMs,
    passOnResponse: job.successUrl !== null,
  };
}

/**
 * Sends a prepared callback and reports what happened; never throws. The target is checked
 * against the SSRF policy again here, at every attempt (once per URL per invocation): a URL
 * refused now (the policy is stricter than when the job was stored, or its service is no longer
 * configured) fails the attempt without any call.
 */
export async function sendCallback(callback: PreparedCallback, outbound: Outbound): Promise<AttemptResult> {
  const firedAt = new Date();
  const route = outbound.routeOf(callback.url);
  if ("refusal" in route) {
    return { firedAt, durationMs: 0, errorClass: "target_refused", errorMessage: `url ${route.refusal}` };
  }
  const signal = outbound.timeoutSignal(callback.timeoutMs, firedAt.getTime());
  try {
    const response = await route.fetcher.fetch(route.url, {
      method: callback.method,
      headers: callback.headers,
      body: callback.body,
      redirect: "manual",
      signal,
    });
    const passedOn = callback.passOnResponse ? await readPassedOn(response, callback.headers) : undefined;
    const responseExcerpt = passedOn
      ? passedOn.body.slice(0, RESPONSE_EXCERPT_MAX_CHARS)
      : scrubHeaderValues(storableText(await readExcerpt(response)), callback.headers);
    return {
      firedAt,
      durationMs: Date.now() - firedAt.getTime(),
      statusCode: response.status,
      responseExcerpt,
      retryAfter: response.headers.get("retry-after") ?? undefined,
      response: passedOn,
    };
  } catch (error) {
    const durationMs = Date.now() - firedAt.getTime();
    if (signal.aborted) {
      return {
        firedAt,
        durationMs,
        errorClass: "timeout",
        errorMessage: `no response within ${callback.timeoutMs} ms`,
      };
    }
    // Over the network, the runtime's message does not say what failed: name it (refused, DNS, TLS).
    const failure =
      route.fetcher === network
        ? await outbound.diagnose(route.url, error)
        : { errorClass: "network_error" as const, errorMessage: String(error) };
    return {
      firedAt,
      durationMs,
      errorClass: failure.errorClass,
      errorMessage: scrubHeaderValues(failure.errorMessage, callback.headers),
    };
  }
}

/** How a callback reaches its target. */
interface Route {
  fetcher: Pick<Fetcher, "fetch">;
  url: string;
}

const network: Route["fetcher"] = { fetch: (input, init) => fetch(input, init) };

/**
 * The network, or the service binding a `service://` URL names; or why neither may be used:
 * the URL is refused by the policy, or names no service bound to Fliq.
 */
function routeOf(
  url: string,
  policy: TargetPolicy,
  services: ReadonlyMap<string, Fetcher>,
): Route | { refusal: string } {
  const refusal = callbackTargetRefusal(url, policy);
  if (refusal) return { refusal };
  const service = serviceTargetOf(url);
  if (!service) return { fetcher: network, url };
  const fetcher = services.get(service.service);
  return fetcher
    ? { fetcher, url: service.requestUrl }
    : { refusal: "must name a service configured in CALLBACK_SERVICES" };
}

/** A body announced at most this long is read whole: cheaper than streaming it piece by piece. */
const READ_WHOLE_MAX_BYTES = 16 * 1024;

/** Reads at most RESPONSE_EXCERPT_MAX_CHARS of the body, then drops the rest unread. */
/**
 * Text Postgres can store: NUL (which binary answers hold) becomes U+FFFD. One unstorable
 * excerpt would otherwise fail the whole batch of results written with it.
 */
function storableText(text: string): string {
  return text.replaceAll("\u0000", "\uFFFD");
}

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

/**
 * The response as a success_url is told it: its headers, and its body's first
 * JOB_LIMITS.successBodyMaxBytes as text (a character cut at the limit becomes U+FFFD, as does
 * NUL, which Postgres cannot store). Secret values of the request's own headers are scrubbed
 * from both, as from an excerpt: a target echoing them back does not put them in a job's body.
 */
async function readPassedOn(response: Response, requestHeaders: Record<string, string>): Promise<PassedOnResponse> {
  const limit = JOB_LIMITS.successBodyMaxBytes;
  const chunks: Uint8Array[] = [];
  let length = 0;
  let bodyTruncated = false;
  if (response.body) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      length += value.length;
      if (length > limit) {
        bodyTruncated = true;
        await reader.cancel();
        break;
      }
    }
  }
  const bytes = new Uint8Array(Math.min(length, limit));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, bytes.length - offset);
    bytes.set(part, offset);
    offset += part.length;
  }
  const storable = (text: string) => scrubHeaderValues(storableText(text), requestHeaders);
  const headers: Record<string, string> = {};
  for (const [name, value] of response.headers) headers[name] = storable(value);
  return { headers, body: storable(new TextDecoder().decode(bytes)), bodyTruncated };
}
