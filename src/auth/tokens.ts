/** API tokens: `fliq_sk_` + 32 random bytes in base64url. Only a SHA-256 hash is ever stored. */
export const TOKEN_PREFIX = "fliq_sk_";
const SECRET_BYTES = 32;
/** Characters of the token (after `fliq_sk_`) kept in clear to find candidate rows. */
const LOOKUP_PREFIX_LENGTH = 8;
const TOKEN_PATTERN = /^fliq_sk_[A-Za-z0-9_-]{43}$/;

export interface GeneratedToken {
  token: string;
  prefix: string;
  hash: string;
}

/** Creates a fresh token; `token` is shown once, `prefix` and `hash` are what gets stored. */
export async function generateApiToken(): Promise<GeneratedToken> {
  const secret = base64url(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
  const token = `${TOKEN_PREFIX}${secret}`;
  return { token, prefix: lookupPrefix(token), hash: await hashToken(token) };
}

/** Whether a string has the shape of a Fliq token (cheap check before any database work). */
export function isWellFormedToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

/** The clear prefix stored beside the hash, used to find candidate rows. */
export function lookupPrefix(token: string): string {
  return token.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + LOOKUP_PREFIX_LENGTH);
}

/** Hex SHA-256 of the whole token. */
export async function hashToken(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares two hex hashes without an early exit, so timing reveals nothing about where they differ. */
export function hashesEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
