/**
 * Driving the dashboard as a browser would, inside workerd: form posts, the session cookie,
 * and the CSRF token read from the page.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { expect } from "vitest";
import fliqWorker from "../../src/index";
import { type TestBindings, testEnv } from "./fliq";

export const ORIGIN = "https://fliq.test";

export interface PageResponse {
  status: number;
  headers: Headers;
  html: string;
}

/** Calls a dashboard URL; `form` is sent urlencoded, with this origin's Origin header unless `headers` set one. */
export async function callDashboard(
  method: string,
  path: string,
  options: {
    cookie?: string;
    form?: Record<string, string | string[]>;
    headers?: Record<string, string>;
    /** Bindings to change for this call only (e.g. a small limiter). */
    env?: Partial<TestBindings>;
  } = {},
): Promise<PageResponse> {
  const headers: Record<string, string> = {};
  if (options.cookie) headers.cookie = options.cookie;
  let body: string | undefined;
  if (options.form) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(options.form)) {
      for (const one of Array.isArray(value) ? value : [value]) params.append(name, one);
    }
    body = params.toString();
    headers["content-type"] = "application/x-www-form-urlencoded";
    headers.origin = ORIGIN;
  }
  Object.assign(headers, options.headers);
  const ctx = createExecutionContext();
  const request = new Request(`${ORIGIN}${path}`, { method, headers, body, redirect: "manual" });
  const callEnv = options.env ? { ...testEnv, ...options.env } : testEnv;
  const response = await fliqWorker.fetch(request as Parameters<typeof fliqWorker.fetch>[0], callEnv, ctx);
  const html = await response.text();
  // A delivery an action fires from here finishes before the test goes on.
  await waitOnExecutionContext(ctx);
  return { status: response.status, headers: response.headers, html };
}

/** Signs in with a token and returns the session's `cookie` header value. */
export async function signIn(token: string): Promise<string> {
  const response = await callDashboard("POST", "/dashboard/login", { form: { token } });
  expect(response.status).toBe(303);
  const setCookie = response.headers.get("set-cookie") ?? "";
  const pair = setCookie.split(";")[0];
  expect(pair).toMatch(/^fliq_session=[0-9a-f]{64}$/);
  return pair;
}

/** The CSRF token in a page's forms. */
export function csrfTokenIn(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error("the page carries no CSRF token");
  return match[1];
}

/** Signs in and reads the session's CSRF token from the overview. */
export async function openSession(token: string): Promise<{ cookie: string; csrf: string }> {
  const cookie = await signIn(token);
  const overview = await callDashboard("GET", "/dashboard", { cookie });
  expect(overview.status).toBe(200);
  return { cookie, csrf: csrfTokenIn(overview.html) };
}

/** The text of a page without its tags, whitespace collapsed, for assertions on what a reader sees. */
export function textOf(html: string): string {
  return html
    .replace(/<style[\s\S]*?<\/style>/g, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ")
    .trim();
}
