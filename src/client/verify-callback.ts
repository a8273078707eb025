/**
 * Verifies a Fliq callback on the receiving side: Standard Webhooks (https://www.standardwebhooks.com)
 * with WebCrypto only, so it runs in Workers, Node 20+ and browsers without dependencies.
 *
 * A callback is genuine when one of the `v1,` signatures in `webhook-signature` is the
 * HMAC-SHA256, under one of the receiver's `whsec_` secrets, of `webhook-id.webhook-timestamp.body`,
 * and its timestamp is within the tolerance of the receiver's clock (5 minutes by default), so a
 * captured callback cannot be sent again later. During a secret rotation Fliq signs with both the
 * old and the new secret, and a receiver may hold both: any match verifies.
 */

/** Why a callback was refused. */
export type CallbackVerificationCode =
  | "missing_headers"
  | "invalid_timestamp"
  | "timestamp_too_old"
  | "timestamp_too_new"
  | "invalid_signature"
  | "invalid_secret";

/** A callback that failed verification; `code` says why. */
export class CallbackVerificationError extends Error {
  override readonly name = "CallbackVerificationError";

  constructor(
    readonly code: CallbackVerificationCode,
    message: string,
  ) {
    super(message);
  }
}

export interface VerifyOptions {
  /** How far the callback's timestamp may be from the receiver's clock, either way (300 s by default). */
  toleranceSeconds?: number;
  /** The receiver's clock; the current time by default. */
  now?: Date;
}

/** A verified callback: its body, and what Fliq says about it. */
export interface VerifiedCallback<Payload = unknown> {
  /** `webhook-id`: stable across the retries of one job run, so it is the receiver's dedupe key. */
  webhookId: string;
  /** When Fliq signed (and sent) this attempt. */
  timestamp: Date;
  /** The body exactly as received (the bytes the signature covers, as UTF-8 text). */
  body: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  payload: Payload | undefined;
  /** `fliq-job-id`, `fliq-attempt`, `fliq-scheduled-at` (null when absent, e.g. from another sender). */
  jobId: string | null;
  attempt: number | null;
  scheduledAt: Date | null;
}

export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

const SECRET_PREFIX = "whsec_";

/**
 * The secrets a receiver accepts: one, a list, or a comma- or space-separated string (as a Worker
 * secret holds them). Undefined (an unset secret) is refused as `invalid_secret`.
 */
export type CallbackSecrets = string | readonly string[] | undefined;

/**
 * Verifies a callback request and returns its body and Fliq's metadata, or throws a
 * CallbackVerificationError. It reads the request's body; use the returned `body`/`payload`.
 */
export async function verifyCallback<Payload = unknown>(
  request: Request,
  secrets: CallbackSecrets,
  options: VerifyOptions = {},
): Promise<VerifiedCallback<Payload>> {
  return verifyCallbackParts(request.headers, await request.text(), secrets, options);
}

/** verifyCallback for a body already read (as a framework may have): the same checks, the same answer. */
export async function verifyCallbackParts<Payload = unknown>(
  headers: Headers,
  body: string,
  secrets: CallbackSecrets,
  options: VerifyOptions = {},
): Promise<VerifiedCallback<Payload>> {
  const keys = await importSecrets(secrets);
  const webhookId = headers.get("webhook-id");
  const timestampHeader = headers.get("webhook-timestamp");
  const signatureHeader = headers.get("webhook-signature");
  if (!webhookId || !timestampHeader || !signatureHeader) {
    throw new CallbackVerificationError(
      "missing_headers",
      "The callback lacks webhook-id, webhook-timestamp or webhook-signature.",
    );
  }
  const timestamp = checkTimestamp(timestampHeader, options);
  const signatures = signatureHeader
    .split(" ")
    .filter((entry) => entry.startsWith("v1,"))
    .flatMap((entry) => {
      const bytes = fromBase64(entry.slice(3));
      return bytes ? [bytes] : [];
    });
  // Copied into its own ArrayBuffer: some libs type encode()'s result as possibly shared memory, which WebCrypto refuses.
  const content = new Uint8Array(new TextEncoder().encode(`${webhookId}.${timestampHeader}.${body}`));
  if (!(await anySignatureMatches(keys, signatures, content))) {
    throw new CallbackVerificationError("invalid_signature", "No signature matches the callback with these secrets.");
  }
  const attempt = headers.get("fliq-attempt");
  const scheduledAt = headers.get("fliq-scheduled-at");
  return {
    webhookId,
    timestamp,
    body,
    payload: parseJson<Payload>(body),
    jobId: headers.get("fliq-job-id"),
    attempt: attempt && /^\d+$/.test(attempt) ? Number(attempt) : null,
    scheduledAt: scheduledAt && !Number.isNaN(Date.parse(scheduledAt)) ? new Date(scheduledAt) : null,
  };
}

/** The timestamp as a date, if it is a whole number of seconds within the tolerance of now. */
function checkTimestamp(header: string, options: VerifyOptions): Date {
  if (!/^\d{1,12}$/.test(header)) {
    throw new CallbackVerificationError("invalid_timestamp", "webhook-timestamp is not a Unix time in seconds.");
  }
  const seconds = Number(header);
  const nowSeconds = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (seconds < nowSeconds - tolerance) {
    throw new CallbackVerificationError("timestamp_too_old", "The callback is older than the tolerance allows.");
  }
  if (seconds > nowSeconds + tolerance) {
    throw new CallbackVerificationError("timestamp_too_new", "The callback's timestamp is in the future.");
  }
  return new Date(seconds * 1000);
}

/**
 * Whether any signature verifies under any key. crypto.subtle.verify compares in constant time,
 * and every pair is checked, so the time taken says nothing about which (if any) matched.
 */
async function anySignatureMatches(
  keys: CryptoKey[],
  signatures: Uint8Array<ArrayBuffer>[],
  content: Uint8Array<ArrayBuffer>,
) {
  const results = await Promise.all(
    keys.flatMap((key) => signatures.map((signature) => crypto.subtle.verify("HMAC", key, signature, content))),
  );
  return results.includes(true);
}

const keyCache = new Map<string, Promise<CryptoKey>>();

/** The HMAC keys for the secrets, imported once per isolate. */
async function importSecrets(secrets: CallbackSecrets): Promise<CryptoKey[]> {
  const list = (typeof secrets === "string" ? secrets.split(/[\s,]+/) : [...(secrets ?? [])]).filter(
    (secret) => secret.length > 0,
  );
  if (list.length === 0) throw new CallbackVerificationError("invalid_secret", "No signing secret was given.");
  return Promise.all(list.map(importSecret));
}

function importSecret(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    const raw = fromBase64(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret);
    if (!raw || raw.length === 0) {
      throw new CallbackVerificationError("invalid_secret", "A signing secret is not `whsec_` followed by base64.");
    }
    key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    keyCache.set(secret, key);
  }
  return key;
}

/** Standard base64 to bytes; undefined when it is not base64. */
function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return undefined;
  }
}

function parseJson<T>(body: string): T | undefined {
  if (body === "") return undefined;
  try {
    return JSON.parse(body) as T;
  } catch {
    return undefined;
  }
}
