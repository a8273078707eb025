/**
 * The dashboard's session: the API token itself, kept in an HttpOnly, Secure, SameSite=Strict
 * cookie scoped to /dashboard, and checked on every request by the same code as the API's
 * bearer tokens. Nothing is stored server-side, so revoking the token ends the session at once.
 *
 * Every action is a POST form that carries a CSRF token, the HMAC of a fixed label keyed by
 * the session token: a page can only hold it if it was served to the session's owner. POSTs
 * from another origin are refused as well, before the token is even looked at.
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { hashesEqual } from "../auth/tokens";

export const SESSION_COOKIE = "fliq_session";
export const DASHBOARD_PATH = "/dashboard";
/** The form field that carries the CSRF token. */
export const CSRF_FIELD = "_csrf";
/** A browser left signed in forgets the token after this long; revoking it ends the session sooner. */
const SESSION_MAX_AGE_SECONDS = 12 * 60 * 60;

const cookieOptions = { path: DASHBOARD_PATH, httpOnly: true, secure: true, sameSite: "Strict" } as const;

/** The token the browser presents, if any (checked by the caller). */
export function sessionToken(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE) || undefined;
}

/** Signs the browser in: the token goes into the session cookie. */
export function startSession(c: Context, token: string): void {
  setCookie(c, SESSION_COOKIE, token, { ...cookieOptions, maxAge: SESSION_MAX_AGE_SECONDS });
}

/** Signs the browser out: the cookie is expired. */
export function endSession(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, cookieOptions);
}

/** The CSRF token of a session: HMAC-SHA256 of a fixed label, keyed by the session token. */
export async function csrfTokenFor(sessionTokenValue: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(sessionTokenValue),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode("fliq-dashboard-csrf-v1"));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether a submitted CSRF token is the session's (compared in constant time). */
export async function isValidCsrfToken(sessionTokenValue: string, submitted: unknown): Promise<boolean> {
  if (typeof submitted !== "string") return false;
  return hashesEqual(await csrfTokenFor(sessionTokenValue), submitted);
}

/**
 * Whether a POST comes from a page of this origin. Browsers send `Origin` on every POST and
 * `Sec-Fetch-Site` on every request; a request that carries neither (a script, a test client)
 * still needs the CSRF token, which only a page of this origin can hold.
 */
export function isSameOriginPost(c: Context): boolean {
  const origin = c.req.header("origin");
  if (origin !== undefined && origin !== new URL(c.req.url).origin) return false;
  const site = c.req.header("sec-fetch-site");
  return site === undefined || site === "same-origin" || site === "none";
}
