/**
 * The dashboard's forms that create a job and a schedule: they act through the API's own
 * schemas and create path, so they store what POST /jobs and POST /schedules store and refuse
 * what those refuse, in the same words; the session's CSRF and scope rules hold for them; a
 * form sent twice creates one. And the interactive API reference at /docs.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { jobs, schedules } from "../src/db/schema";
import { callDashboard, openSession, textOf } from "./support/dashboard";
import { callApi, createProject, receivedAt, receiverUrl, useTestProject } from "./support/fliq";

const { db, token } = await useTestProject();

/** The new job's id from the form's redirect to its page. */
const createdId = (location: string | null, kind: "jobs" | "schedules") =>
  new RegExp(`^/dashboard/${kind}/([0-9a-f-]{36})\\?done=created$`).exec(location ?? "")?.[1] ?? "";

describe("the new job form", () => {
  it("creates the job it describes, which is delivered with its method, headers and body", async () => {
    const { cookie, csrf } = await openSession(token);
    const form = await callDashboard("GET", "/dashboard/jobs/new", { cookie });
    expect(form.status).toBe(200);
    const key = /name="idempotency_key" value="([^"]+)"/.exec(form.html)?.[1] ?? "";
    const url = receiverUrl("ok");
    const response = await callDashboard("POST", "/dashboard/jobs/new", {
      cookie,
      form: {
        _csrf: csrf,
        idempotency_key: key,
        http_method: "PUT",
        url,
        headers: "Content-Type: application/json\r\nX-Secret: hunter2\r\n",
        body: '{"from":"the dashboard"}',
        when: "now",
        max_retries: "5",
        timeout_ms: "",
        "retry_backoff.initial_delay_ms": "2000",
        "retry_backoff.max_delay_ms": "",
      },
    });
    expect(response.status).toBe(303);
    const id = createdId(response.headers.get("location"), "jobs");
    const [delivered] = await receivedAt(url);
    expect(delivered).toMatchObject({ method: "PUT", body: '{"from":"the dashboard"}' });
    expect(delivered.headers["x-secret"]).toBe("hunter2");
    const [stored] = await db.select().from(jobs).where(eq(jobs.id, id));
    expect(stored).toMatchObject({ maxRetries: 5, backoffInitialMs: 2000, backoffMaxMs: 3_600_000, timeoutMs: 15_000 });
    expect(stored.idempotencyKey).toBe(key);
    const page = await callDashboard("GET", response.headers.get("location") ?? "", { cookie });
    expect(textOf(page.html)).toContain("The job was created.");
    expect(page.html).not.toContain("hunter2");
  });

  it("schedules it after a delay or at a time given in UTC", async () => {
    const { cookie, csrf } = await openSession(token);
    /** Posts the form and reads back the job it created. */
    const create = async (fields: Record<string, string>) => {
      const response = await callDashboard("POST", "/dashboard/jobs/new", {
        cookie,
        form: { _csrf: csrf, idempotency_key: crypto.randomUUID(), url: "https://example.com/hook", ...fields },
      });
      expect(response.status, textOf(response.html)).toBe(303);
      const [row] = await db
        .select()
        .from(jobs)
        .where(eq(jobs.id, createdId(response.headers.get("location"), "jobs")));
      return row;
    };
    const before = Date.now();
    const delayed = await create({ when: "delay", delay: "1h30m" });
    expect(delayed.scheduledAt.getTime()).toBeGreaterThanOrEqual(before + 90 * 60_000);
    expect(delayed.scheduledAt.getTime()).toBeLessThan(Date.now() + 90 * 60_000 + 1_000);
    const inSeconds = await create({ when: "delay", delay: "90" });
    expect(inSeconds.scheduledAt.getTime()).toBeGreaterThanOrEqual(before + 90_000);
    const target = new Date(Math.floor(before / 1000) * 1000 + 2 * 86_400_000);
    const at = await create({ when: "at", scheduled_at: target.toISOString().slice(0, 19) });
    expect(at.scheduledAt.toISOString()).toBe(target.toISOString());
  });

  it("refuses what POST /jobs refuses, with the API's own messages, and keeps what was typed", async () => {
    const { cookie, csrf } = await openSession(token);
    const api = await callApi("POST", "/jobs", {
      token,
      json: { url: "ftp://example.com/x", max_retries: 25, headers: { "X-Forwarded-For": "1" }, delay: "soon" },
    });
    expect(api.status).toBe(422);
    const page = await callDashboard("POST", "/dashboard/jobs/new", {
      cookie,
      form: {
        _csrf: csrf,
        idempotency_key: crypto.randomUUID(),
        url: "ftp://example.com/x",
        max_retries: "25",
        headers: "X-Forwarded-For: 1",
        when: "delay",
        delay: "soon",
      },
    });
    expect(page.status).toBe(422);
    const text = textOf(page.html);
    expect(text).toContain(api.body.error.message);
    expect(api.body.error.details.length).toBeGreaterThanOrEqual(4);
    for (const detail of api.body.error.details as Array<{ path: string; message: string }>) {
      expect(text).toContain(detail.message);
      expect(page.html).toContain(`>${detail.path}</a>: ${detail.message.replace(/"/g, "&quot;")}`);
    }
    // Each field says what is wrong with it, and keeps its value.
    expect(page.html).toMatch(/id="f-url" name="url" aria-invalid="true"[^>]*value="ftp:\/\/example.com\/x"/);
    expect(page.html).toMatch(/id="f-max_retries" name="max_retries" aria-invalid="true"[^>]*value="25"/);
    expect(page.html).toContain('<input type="radio" name="when" value="delay" checked=""/>');
  });

  it("refuses a header line that is not Name: value, and a body with GET as the API does", async () => {
    const { cookie, csrf } = await openSession(token);
    const refused = await callDashboard("POST", "/dashboard/jobs/new", {
      cookie,
      form: {
        _csrf: csrf,
        url: "https://example.com/x",
        headers: "Accept: */*\nnot a header",
        http_method: "GET",
        body: "x",
      },
    });
    expect(refused.status).toBe(422);
    expect(textOf(refused.html)).toContain('The request is not valid: headers line 2 is not "Name: value".');
    const api = await callApi("POST", "/jobs", {
      token,
      json: { url: "https://example.com/x", http_method: "GET", body: "x" },
    });
    const withoutHeaders = await callDashboard("POST", "/dashboard/jobs/new", {
      cookie,
      form: { _csrf: csrf, url: "https://example.com/x", http_method: "GET", body: "x" },
    });
    expect(withoutHeaders.status).toBe(422);
    expect(textOf(withoutHeaders.html)).toContain(api.body.error.message);
  });

  it("creates one job when the same form is sent twice", async () => {
    const { project, token: own } = await createProject(db);
    const { cookie, csrf } = await openSession(own);
    const fields = {
      _csrf: csrf,
      idempotency_key: crypto.randomUUID(),
      url: "https://example.com/once",
      when: "delay",
      delay: "1h",
    };
    const first = await callDashboard("POST", "/dashboard/jobs/new", { cookie, form: fields });
    const second = await callDashboard("POST", "/dashboard/jobs/new", { cookie, form: fields });
    expect(second.headers.get("location")).toBe(first.headers.get("location"));
    expect(await db.select().from(jobs).where(eq(jobs.projectId, project.id))).toHaveLength(1);
  });

  it("keeps the session's rules: no CSRF token, another origin or a read-only token creates nothing", async () => {
    const { project, token: writer } = await createProject(db);
    const { cookie, csrf } = await openSession(writer);
    const fields = { url: "https://example.com/x" };
    const refusals = [
      await callDashboard("POST", "/dashboard/jobs/new", { cookie, form: fields }),
      await callDashboard("POST", "/dashboard/jobs/new", {
        cookie,
        form: { ...fields, _csrf: csrf },
        headers: { origin: "https://evil.example" },
      }),
      await callDashboard("POST", "/dashboard/schedules/new", { cookie, form: { ...fields, cron: "* * * * *" } }),
    ];
    for (const refusal of refusals) expect(refusal.status).toBe(403);
    const reader = await createProject(db, ["read"]);
    const readSession = await openSession(reader.token);
    const readOnly = await callDashboard("POST", "/dashboard/jobs/new", {
      cookie: readSession.cookie,
      form: { ...fields, _csrf: readSession.csrf },
    });
    expect(readOnly.status).toBe(403);
    expect(textOf(readOnly.html)).toContain("read scope only");
    expect((await callDashboard("GET", "/dashboard/jobs", { cookie: readSession.cookie })).html).not.toContain(
      "/dashboard/jobs/new",
    );
    expect(await db.select().from(jobs).where(eq(jobs.projectId, project.id))).toHaveLength(0);
  });
});

describe("the new schedule form", () => {
  it("creates the schedule it describes", async () => {
    const { project, token: own } = await createProject(db);
    const { cookie, csrf } = await openSession(own);
    const response = await callDashboard("POST", "/dashboard/schedules/new", {
      cookie,
      form: {
        _csrf: csrf,
        idempotency_key: crypto.randomUUID(),
        cron: "0 9 * * MON-FRI",
        timezone: "Europe/Berlin",
        starts_at: "2030-04-01T00:00",
        url: "https://example.com/daily",
        http_method: "POST",
        headers: "Content-Type: application/json",
        body: '{"kind":"daily"}',
        max_retries: "5",
      },
    });
    expect(response.status).toBe(303);
    const id = createdId(response.headers.get("location"), "schedules");
    const [stored] = await db.select().from(schedules).where(eq(schedules.id, id));
    expect(stored).toMatchObject({
      projectId: project.id,
      cron: "0 9 * * MON-FRI",
      timezone: "Europe/Berlin",
      url: "https://example.com/daily",
      body: '{"kind":"daily"}',
      maxRetries: 5,
      headers: { "Content-Type": "application/json" },
    });
    expect(stored.startsAt?.toISOString()).toBe("2030-04-01T00:00:00.000Z");
    const page = await callDashboard("GET", response.headers.get("location") ?? "", { cookie });
    expect(textOf(page.html)).toContain("The schedule was created.");
  });

  it("refuses what POST /schedules refuses, in the same words", async () => {
    const { cookie, csrf } = await openSession(token);
    const input = { cron: "0 9 30 2 *", timezone: "Mars/Olympus", url: "https://example.com/x" };
    const api = await callApi("POST", "/schedules", { token, json: input });
    expect(api.status).toBe(422);
    const page = await callDashboard("POST", "/dashboard/schedules/new", { cookie, form: { _csrf: csrf, ...input } });
    expect(page.status).toBe(422);
    expect(textOf(page.html)).toContain(api.body.error.message);
    for (const detail of api.body.error.details as Array<{ message: string }>) {
      expect(textOf(page.html)).toContain(detail.message);
    }
  });
});

describe("the API reference", () => {
  it("serves Swagger UI for /openapi.json from this Worker, under a policy that allows no other script", async () => {
    const response = await callDashboard("GET", "/docs");
    expect(response.status).toBe(200);
    expect(response.html).toContain('<link rel="stylesheet" href="/docs/assets/swagger-ui-dist/swagger-ui.css" />');
    expect(response.html).toContain('<script src="/docs/assets/swagger-ui-dist/swagger-ui-bundle.js"');
    expect(response.html).toContain("url: '/openapi.json'");
    const policy = response.headers.get("content-security-policy") ?? "";
    expect(policy).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/]+=*';/);
    expect(policy).toContain("connect-src 'self'");
    const script = await callDashboard("GET", "/docs/assets/swagger-ui-dist/swagger-ui-bundle.js");
    expect(script.status).toBe(200);
    expect(script.html).toContain("SwaggerUIBundle");
    // Only the two files the page needs are served.
    expect((await callDashboard("GET", "/docs/assets/swagger-ui-dist/index.html")).status).toBe(404);
    const overview = await callDashboard("GET", "/dashboard", { cookie: (await openSession(token)).cookie });
    expect(overview.html).toContain('href="/docs"');
  });
});
