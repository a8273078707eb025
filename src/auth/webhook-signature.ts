/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): every callback carries
 * `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
 * "id.timestamp.body">`, keyed with the project's `whsec_` secret. Any Standard Webhooks
 * library verifies a Fliq callback.
 */
export const SECRET_PREFIX = "whsec_";
const SECRET_BYTES = 32;

/** A new signing secret: `whsec_` + base64 of 32 random bytes. */
export function generateSigningSecret(): string {
  return SECRET_PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

/**
 * The `webhook-signature` value for one message: one `v1,` signature per secret, space
 * separated, so a receiver holding either the old or the new secret verifies it during a rotation.
 */
export async function signWebhook(
  secrets: readonly string[],
  message: { id: string; timestampSeconds: number; body: string },
): Promise<string> {
  const content = new TextEncoder().encode(`${message.id}.${message.timestampSeconds}.${message.body}`);
  const signatures = await Promise.all(
    secrets.map(async (secret) => {
      const key = await importKey(secret);
      return `v1,${toBase64(new Uint8Array(await crypto.subtle.sign("HMAC", key, content)))}`;
    }),
  );
  return signatures.join(" ");
}

const keyCache = new Map<string, Promise<CryptoKey>>();

/** Imports a secret as an HMAC key once per isolate; signing thousands of callbacks reuses it. */
function importKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    const raw = fromBase64(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret);
    key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keyCache.set(secret, key);
  }
  return key;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
