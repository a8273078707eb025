/**
 * One redaction rule for every surface that shows a stored request: every header value is
 * "[redacted]" unless the header is on the short allowlist (src/jobs/redaction.ts). The rule
 * as a pure function, then a walk over every route of the Worker, API and dashboard, proving
 * that no credential a job or schedule carries comes back, under whatever name it was sent.
 */
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { isSecretHeader, REDACTED, redactHeaders, scrubHeaderValues } from "../src/jobs/redaction";
import { callDashboard, openSession } from "./support/dashboard";
import { callApi, receivedAt, receiverUrl, tickNow, useTestProject } from "./support/fliq";
import { useCleanSchedules } from "./support/schedules";

const { db, token } = await useTestProject(["read", "write", "admin"]);
useCleanSchedules(db);

/** Credentials under names a name-based rule misses, and the usual ones. */
const SECRETS: Record<string, string> = {
  Authorization: "Bearer secret-value-authorization",
  Cookie: "sid=secret-value-cookie",
  "X-Api-Key": "secret-value-api-key",
  "X-Access-Code": "secret-value-access-code",
  "X-Auth": "secret-value-x-auth",
  "X-Signature": "secret-value-signature",
  "X-Amz-Security-Token": "secret-value-amz-token",
  "X-Tenant": "secret-value-tenant",
};
const SHOWN = { "Content-Type": "application/json", "Accept-Language": "de-CH" };
const HEADERS = { ...SECRETS, ...SHOWN };
const REDACTED_HEADERS = { ...Object.fromEntries(Object.keys(SECRETS).map((name) => [name, REDACTED])), ...SHOWN };

/** Fails when any secret value (or its distinctive part) appears in `text`. */
function expectNoSecret(text: string, where: string) {
  expect(text, where).not.toContain("secret-value");
}

describe("the redaction rule", () => {
  it("hides every header but the allowlisted ones, whatever the case of the name", () => {
    for (const name of [
      "Authorization",
      "Proxy-Authorization",
      "X-Access-Code",
      "X-Auth",
      "X-Signature",
      "X-Amz-Security-Token",
      "X-Request-Id",
      "Idempotency-Key",
      "X-Anything",
    ]) {
      expect(isSecretHeader(name), name).toBe(true);
    }
    for (const name of ["content-type", "Content-Type", "ACCEPT", "Accept-Language", "User-Agent", "Cache-Control"]) {
      expect(isSecretHeader(name), name).toBe(false);
    }
    expect(redactHeaders(HEADERS)).toEqual(REDACTED_HEADERS);
  });

  it("is what the OpenAPI document (and so the SDK's reader) says of every response's headers", async () => {
    const document = await callApi("GET", "/openapi.json");
    for (const schema of ["Job", "Schedule", "ScheduleDetail"]) {
      const headers = document.body.components.schemas[schema].properties.headers;
      expect(headers.description, schema).toContain(
        `Every value is shown as "${REDACTED}" except those of content-type`,
      );
      expect(headers.examples[0].Authorization, schema).toBe(REDACTED);
    }
  });

  it("scrubs hidden values, and their long parts, from text a target answered", () => {
    const text = `{"authorization":"Bearer secret-value-authorization","token":"secret-value-authorization","ct":"application/json"}`;
    const scrubbed = scrubHeaderValues(text, { ...HEADERS, "webhook-id": "msg_2a9f4c" });
    expect(scrubbed).toBe(`{"authorization":"${REDACTED}","token":"${REDACTED}","ct":"application/json"}`);
    // Short parts are left alone, and so are Fliq's own headers and the allowlisted ones.
    expect(scrubHeaderValues("Bearer msg_2a9f4c application/json", { ...HEADERS, "webhook-id": "msg_2a9f4c" })).toBe(
      "Bearer msg_2a9f4c application/json",
    );
  });
});

/** A job carrying every secret, created through the API; `url` defaults to an hour from now. */
async function newJob(fields: Record<string, unknown> = {}): Promise<string> {
  const created = await callApi("POST", "/jobs", {
    token,
    json: { url: receiverUrl("ok"), delay: "1h", headers: HEADERS, ...fields },
  });
  expect(created.status).toBe(201);
  return created.body.id;
}

/** A finished job: its attempt went to a target that echoes every request header back. */
async function newFinishedJob(): Promise<string> {
  const id = await newJob({ url: receiverUrl("echo/500"), max_retries: 0, failure_url: receiverUrl("ok") });
  expect((await callApi("POST", `/jobs/${id}/run`, { token })).status).toBe(200);
  return id;
}

/** A schedule carrying every secret, created through the API. */
async function newSchedule(): Promise<string> {
  const created = await callApi("POST", "/schedules", {
    token,
    json: { cron: "0 9 * * *", url: receiverUrl("ok"), headers: HEADERS },
  });
  expect(created.status).toBe(201);
  return created.body.id;
}

/** What the API answers, as text. */
async function api(method: string, path: string, json?: unknown): Promise<string> {
  const response = await callApi(method, path, { token, json });
  expect(response.status, `${method} ${path}`).toBeLessThan(300);
  return JSON.stringify(response.body);
}

/** What the dashboard answers, as text, and the page an action redirects to. */
async function page(method: string, path: string, form: Record<string, string> = {}): Promise<string> {
  const { cookie, csrf } = await openSession(token);
  const response = await callDashboard(method, path, {
    cookie,
    ...(method === "POST" && { form: { ...form, _csrf: csrf } }),
  });
  expect(response.status, `${method} ${path}`).toBeLessThan(400);
  const location = response.headers.get("location");
  const next = location ? (await callDashboard("GET", location, { cookie })).html : "";
  return response.html + next;
}

/** Every route that can answer a stored request (a job, a schedule, an attempt), and how to call it. */
const SHOWS_A_REQUEST: Record<string, () => Promise<string>> = {
  "POST /jobs": async () =>
    (await api("GET", `/jobs/${await newJob()}`)) +
    (await api("POST", "/jobs", { url: receiverUrl("ok"), delay: "1h", headers: HEADERS })),
  "POST /jobs/batch": () =>
    api("POST", "/jobs/batch", { jobs: [{ url: receiverUrl("ok"), delay: "1h", headers: HEADERS }] }),
  "GET /jobs": async () => {
    await newJob();
    return api("GET", "/jobs");
  },
  "GET /jobs/:id": async () => api("GET", `/jobs/${await newFinishedJob()}`),
  "GET /jobs/:id/attempts": async () => api("GET", `/jobs/${await newFinishedJob()}/attempts`),
  "PATCH /jobs/:id": async () => api("PATCH", `/jobs/${await newJob()}`, { body: "changed" }),
  "DELETE /jobs/:id": async () => api("DELETE", `/jobs/${await newJob()}`),
  "POST /jobs/:id/cancel": async () => api("POST", `/jobs/${await newJob()}/cancel`),
  "POST /jobs/:id/run": async () => api("POST", `/jobs/${await newJob()}/run`),
  "POST /jobs/:id/replay": async () => api("POST", `/jobs/${await newFinishedJob()}/replay`),
  "POST /schedules": () => api("POST", "/schedules", { cron: "0 9 * * *", url: receiverUrl("ok"), headers: HEADERS }),
  "GET /schedules": async () => {
    await newSchedule();
    return api("GET", "/schedules");
  },
  "GET /schedules/:id": async () => api("GET", `/schedules/${await newSchedule()}`),
  "PATCH /schedules/:id": async () => api("PATCH", `/schedules/${await newSchedule()}`, { cron: "0 10 * * *" }),
  "DELETE /schedules/:id": async () => api("DELETE", `/schedules/${await newSchedule()}`),
  "POST /schedules/:id/pause": async () => api("POST", `/schedules/${await newSchedule()}/pause`),
  "POST /schedules/:id/resume": async () => api("POST", `/schedules/${await newSchedule()}/resume`),
  "POST /schedules/:id/trigger": async () => api("POST", `/schedules/${await newSchedule()}/trigger`),
  // Publishing answers the jobs it made, each carrying the message's headers.
  "POST /topics/:name/jobs": async () => {
    const name = `redaction-${crypto.randomUUID().slice(0, 8)}`;
    await api("POST", "/topics", { name, endpoints: [receiverUrl("ok"), receiverUrl("ok")] });
    return api("POST", `/topics/${name}/jobs`, { delay: "1h", headers: HEADERS });
  },
  "GET /dashboard": async () => {
    await newFinishedJob();
    return page("GET", "/dashboard");
  },
  "GET /dashboard/jobs": async () => {
    await newJob();
    return page("GET", "/dashboard/jobs");
  },
  "GET /dashboard/jobs/:id": async () => page("GET", `/dashboard/jobs/${await newFinishedJob()}`),
  "POST /dashboard/jobs/:id/cancel": async () => page("POST", `/dashboard/jobs/${await newJob()}/cancel`),
  "POST /dashboard/jobs/:id/run": async () => page("POST", `/dashboard/jobs/${await newJob()}/run`),
  "POST /dashboard/jobs/:id/replay": async () => page("POST", `/dashboard/jobs/${await newFinishedJob()}/replay`),
  "POST /dashboard/jobs/:id/schedule": async () =>
    page("POST", `/dashboard/jobs/${await newJob()}/schedule`, {
      scheduled_at: new Date(Date.now() + 86_400_000).toISOString().slice(0, 16),
    }),
  "GET /dashboard/jobs/:id/cancel": async () => page("GET", `/dashboard/jobs/${await newJob()}/cancel`),
  // The forms create through the API's path and redirect to the new job's or schedule's page.
  "POST /dashboard/jobs/new": () =>
    page("POST", "/dashboard/jobs/new", {
      url: receiverUrl("ok"),
      headers: headerLines(),
      when: "delay",
      delay: "1h",
    }),
  "POST /dashboard/schedules/new": () =>
    page("POST", "/dashboard/schedules/new", { cron: "0 9 * * *", url: receiverUrl("ok"), headers: headerLines() }),
  "GET /dashboard/schedules": async () => {
    await newSchedule();
    return page("GET", "/dashboard/schedules");
  },
  "GET /dashboard/schedules/:id": async () => page("GET", `/dashboard/schedules/${await newSchedule()}`),
  "POST /dashboard/schedules/:id/pause": async () => page("POST", `/dashboard/schedules/${await newSchedule()}/pause`),
  "POST /dashboard/schedules/:id/resume": async () =>
    page("POST", `/dashboard/schedules/${await newSchedule()}/resume`),
  "POST /dashboard/schedules/:id/trigger": async () =>
    page("POST", `/dashboard/schedules/${await newSchedule()}/trigger`),
};

const LISTS_WITHOUT_HEADERS = [
  "GET /dashboard",
  "GET /dashboard/jobs",
  "GET /dashboard/schedules",
  "GET /dashboard/jobs/:id/cancel",
];

/** The secret headers as the dashboard's forms take them: one "Name: value" a line. */
const headerLines = () =>
  Object.entries(HEADERS)
    .map(([name, value]) => `${name}: ${value}`)
    .join("\n");

/** Routes that answer no stored request: tokens, signing secrets, projects, bulk ids, sign-in, documents, topics, flow keys, destinations. */
const SHOWS_NO_REQUEST = [
  "GET /",
  "GET /openapi.json",
  "POST /jobs/cancel",
  "POST /jobs/replay",
  "GET /tokens",
  "POST /tokens",
  "DELETE /tokens/:id",
  "GET /signing-secrets",
  "POST /signing-secrets/rotate",
  "GET /admin/projects",
  "POST /admin/projects",
  "GET /admin/projects/:id/tokens",
  "POST /admin/projects/:id/tokens",
  "DELETE /admin/projects/:id/tokens/:tokenId",
  "GET /admin/projects/:id/signing-secrets",
  "POST /admin/projects/:id/signing-secrets/rotate",
  "GET /favicon.svg",
  "GET /favicon.ico",
  "GET /docs",
  "GET /docs/assets/swagger-ui-dist/:file",
  "GET /dashboard/live.js",
  // Empty forms.
  "GET /dashboard/jobs/new",
  "GET /dashboard/schedules/new",
  "GET /dashboard/login",
  "POST /dashboard/login",
  "POST /dashboard/logout",
  "GET /dashboard/tokens",
  "POST /dashboard/tokens",
  "POST /dashboard/tokens/:id/revoke",
  "POST /dashboard/secrets/rotate",
  // Topics hold endpoint URLs, no request of their own (a published message's jobs are walked above).
  "POST /topics",
  "GET /topics",
  "GET /topics/:name",
  "DELETE /topics/:name",
  "POST /topics/:name/endpoints",
  "DELETE /topics/:name/endpoints/:id",
  "GET /flow-keys",
  "GET /flow-keys/:key",
  "PATCH /flow-keys/:key",
  "POST /flow-keys/:key/pause",
  "POST /flow-keys/:key/resume",
  "GET /destinations",
  "GET /destinations/alert-url",
  "PATCH /destinations/alert-url",
  "GET /destinations/:id",
  "POST /destinations/:id/resume",
  "GET /dashboard/topics",
  "POST /dashboard/topics",
  "POST /dashboard/topics/:name/endpoints",
  "POST /dashboard/topics/:name/endpoints/:id/remove",
  "POST /dashboard/topics/:name/delete",
  "GET /dashboard/flow-keys",
  "POST /dashboard/flow-keys/:key/pause",
  "POST /dashboard/flow-keys/:key/resume",
  "GET /dashboard/destinations",
  "POST /dashboard/destinations/:id/resume",
];

describe("every route that shows a stored request", () => {
  it("is walked here: each route of the Worker is either walked or answers no stored request", () => {
    const routes = new Set(app.routes.filter((route) => route.method !== "ALL").map((r) => `${r.method} ${r.path}`));
    expect([...routes].sort()).toEqual([...Object.keys(SHOWS_A_REQUEST), ...SHOWS_NO_REQUEST].sort());
  });

  it.each(Object.keys(SHOWS_A_REQUEST))("%s shows no secret", async (route) => {
    const text = await SHOWS_A_REQUEST[route]();
    // The dashboard's lists show no headers at all; every other answer shows them redacted.
    if (!LISTS_WITHOUT_HEADERS.includes(route)) expect(text).toContain(REDACTED);
    expectNoSecret(text, route);
  });

  it("shows the allowlisted headers, and every other as [redacted], in jobs and schedules alike", async () => {
    const job = await callApi("GET", `/jobs/${await newJob()}`, { token });
    expect(job.body.headers).toEqual(REDACTED_HEADERS);
    const schedule = await callApi("GET", `/schedules/${await newSchedule()}`, { token });
    expect(schedule.body.headers).toEqual(REDACTED_HEADERS);
  });

  it("keeps a target's echo of the request's secrets out of the attempt, which the target did receive", async () => {
    const id = await newFinishedJob();
    const job = await callApi("GET", `/jobs/${id}`, { token });
    const [received] = await receivedAt(job.body.url);
    expect(received.headers["x-access-code"]).toBe("secret-value-access-code");
    expect(job.body.attempts[0].status_code).toBe(500);
    expect(job.body.attempts[0].response_excerpt).toContain(`"x-access-code":"${REDACTED}"`);
    expectNoSecret(JSON.stringify(job.body), "the attempt");
  });

  it("keeps secrets out of the failure notification and the job that carries it", async () => {
    const failureUrl = receiverUrl("ok");
    const id = await newJob({ url: receiverUrl("echo/404"), max_retries: 0, failure_url: failureUrl });
    await callApi("POST", `/jobs/${id}/run`, { token });
    await tickNow();
    const [notice] = await receivedAt(failureUrl);
    expect(JSON.parse(notice.body)).toMatchObject({ type: "job.failed", job_id: id });
    expectNoSecret(notice.body, "the notification's body");
    const list = await callApi("GET", "/jobs?label=fliq:failure-notification", { token });
    expect(list.body.jobs).toHaveLength(1);
    expectNoSecret(JSON.stringify(list.body), "the notification job");
  });

  it("keeps stored secrets when a schedule's headers are sent back redacted, as for jobs", async () => {
    const id = await newSchedule();
    const read = await callApi("GET", `/schedules/${id}`, { token });
    const patched = await callApi("PATCH", `/schedules/${id}`, {
      token,
      json: { headers: { ...read.body.headers, "X-Tenant": "globex" } },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.headers).toEqual(REDACTED_HEADERS);
    const triggered = await callApi("POST", `/schedules/${id}/trigger`, { token });
    await callApi("POST", `/jobs/${triggered.body.id}/run`, { token });
    const [received] = await receivedAt(triggered.body.url);
    expect(received.headers).toMatchObject({ authorization: SECRETS.Authorization, "x-tenant": "globex" });
    const unknown = await callApi("PATCH", `/schedules/${id}`, { token, json: { headers: { "X-New": REDACTED } } });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.details).toEqual([
      {
        path: "headers.X-New",
        message: '"[redacted]" keeps a stored secret, but this schedule has no such header; send its value',
      },
    ]);
  });
});
