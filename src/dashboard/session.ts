/**
 * The dashboard's session. Signing in with an API token creates a server-side session: the
 * browser gets a random 32-byte id in an HttpOnly, Secure, SameSite=Strict cookie scoped to
 * /dashboard, and only the id's SHA-256 is stored, tied to the token (src/db/sessions.ts). A
 * stolen cookie is therefore not an API token, and it dies with its session: after
 * SESSION_ABSOLUTE_MS whatever happens, after SESSION_IDLE_MS without a request, at sign-out
 * (the row is deleted), and on the next request after its token is revoked (every request
 * checks the token is still live).
 *
 * Every action is a POST form that carries a CSRF token, the HMAC of a fixed label keyed by
 * the session id: a page can only hold it if it was served to the session's owner. POSTs
 * from another origin are refused as well, before the session is even looked at.
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { hashesEqual, hashToken } from "../auth/tokens";
import type { Database } from "../db/client";
import { deleteSession, insertSession, peekLiveSession, touchLiveSession } from "../db/sessions";

export const SESSION_COOKIE = "fliq_session";
export const DASHBOARD_PATH = "/dashboard";
/** The form field that carries the CSRF token. */
export const CSRF_FIELD = "_csrf";
/** A session ends this long after sign-in, however active: a working day. */
export const SESSION_ABSOLUTE_MS = 12 * 60 * 60 * 1000;
/** A session ends after this long without a request: a browser left open is not signed in for long. */
export const SESSION_IDLE_MS = 60 * 60 * 1000;

const SESSION_ID_BYTES = 32;
const SESSION_ID_PATTERN = /^[0-9a-f]{64}$/;

const cookieOptions = { path: DASHBOARD_PATH, httpOnly: true, secure: true, sameSite: "Strict" } as const;

/** Who is signed in, as the API's requireToken sets it. */
export interface SessionCaller {
  projectId: string;
  tokenId: string;
  scopes: string[];
}

/** The session id the browser presents, if it has the shape of one (checked against the database by the caller). */
export function sessionIdOf(c: Context): string | undefined {
  const value = getCookie(c, SESSION_COOKIE);
  return value && SESSION_ID_PATTERN.test(value) ? value : undefined;
}

/** Whether the browser sent a session cookie at all (perhaps an old or malformed one, to be cleared). */
export function hasSessionCookie(c: Context): boolean {
  return getCookie(c, SESSION_COOKIE) !== undefined;
}

/** Signs the browser in for a token: a new session row, and its id in the cookie. */
export async function startSession(c: Context, db: Database, tokenId: string, now: Date): Promise<void> {
  const id = [...crypto.getRandomValues(new Uint8Array(SESSION_ID_BYTES))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  const expiresAt = new Date(now.getTime() + SESSION_ABSOLUTE_MS);
  await insertSession(db, { idHash: await hashToken(id), tokenId, expiresAt }, now, idleBefore(now));
  setCookie(c, SESSION_COOKIE, id, { ...cookieOptions, maxAge: SESSION_ABSOLUTE_MS / 1000 });
}

/**
 * Who the session belongs to while it and its token are live, or undefined. A request the user
 * made resets its idle timeout; a page's own poll for changes (`pollOnly`) does not.
 */
export async function liveSession(
  db: Database,
  sessionId: string,
  now: Date,
  options: { pollOnly?: boolean } = {},
): Promise<SessionCaller | undefined> {
  const read = options.pollOnly ? peekLiveSession : touchLiveSession;
  return read(db, await hashToken(sessionId), now, idleBefore(now));
}

/** The header a live page's script sends when it fetches the page again (see live-script.ts). */
export const LIVE_POLL_HEADER = "fliq-live";

/** Signs the browser out: the session row is deleted and the cookie expired. */
export async function endSession(c: Context, db: Database): Promise<void> {
  const sessionId = sessionIdOf(c);
  if (sessionId) await deleteSession(db, await hashToken(sessionId));
  deleteCookie(c, SESSION_COOKIE, cookieOptions);
}

/** Sessions last seen at or before this are idle-expired. */
const idleBefore = (now: Date) => new Date(now.getTime() - SESSION_IDLE_MS);

/** The CSRF token of a session: HMAC-SHA256 of a fixed label, keyed by the session id. */
export async function csrfTokenFor(sessionId: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(sessionId),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode("fliq-dashboard-csrf-v1"));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether a submitted CSRF token is the session's (compared in constant time). */
export async function isValidCsrfToken(sessionId: string, submitted: unknown): Promise<boolean> {
  if (typeof submitted !== "string") return false;
  return hashesEqual(await csrfTokenFor(sessionId), submitted);
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
