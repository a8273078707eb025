/**
 * The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against a
 * real running Fliq: sign in, find a failed job, read its attempts, replay it and watch it
 * succeed, cancel a job, sign out. Screenshots go to test-artifacts/ (not in git).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FliqStack, startFliqStack } from "./stack";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = new URL("../../test-artifacts/dashboard/", import.meta.url).pathname;
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

let stack: FliqStack;
let browser: Browser;
const chromiumMissing = existsSync(CHROMIUM)
  ? undefined
  : `Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`;

beforeAll(async () => {
  if (chromiumMissing) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  stack = await startFliqStack();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

/** Never a silent skip: without the browser each test fails, and says how to get it. */
function requireChromium(): void {
  if (chromiumMissing) throw new Error(chromiumMissing);
}

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const screenshot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

/** Every console error and uncaught exception of every page, and the ones a test expects (a 404 it opens). */
const consoleErrors: string[] = [];
const expectedErrors: RegExp[] = [];

/** A browser context whose pages' console errors fail the test (see afterEach). */
async function newContext(options?: BrowserContextOptions): Promise<BrowserContext> {
  const context = await browser.newContext(options);
  context.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(`${message.text()} (${message.location().url})`);
  });
  context.on("weberror", (error) => consoleErrors.push(`uncaught: ${error.error().message}`));
  return context;
}

afterEach(() => {
  const unexpected = consoleErrors.filter((error) => !expectedErrors.some((expected) => expected.test(error)));
  consoleErrors.length = 0;
  expectedErrors.length = 0;
  expect(unexpected).toEqual([]);
});

/** Widths the dashboard is tested at: a desktop and a phone. */
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

/**
 * What makes the page scroll sideways (it must not, at any width): false, or the widest
 * elements that stick out of the viewport, to say what to fix.
 */
const scrollsSideways = (page: Page) =>
  page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return false;
    return Array.from(document.querySelectorAll("body *"))
      .filter((element) => element.getBoundingClientRect().right > width + 1)
      .slice(-3)
      .map(
        (element) => `${element.tagName}#${element.id}.${element.className}: ${element.getBoundingClientRect().right}`,
      )
      .join(", ");
  });

/** Creates a job through the API, as a client would. */
async function createJob(token: string, job: Record<string, unknown>): Promise<{ id: string }> {
  const response = await fetch(`${stack.url}/jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(job),
  });
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as { id: string };
}

/** Waits (bounded) until the API reports the job in this status. */
async function waitForStatus(token: string, id: string, status: string): Promise<void> {
  let seen = "";
  for (let i = 0; i < 100; i++) {
    const response = await fetch(`${stack.url}/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } });
    seen = ((await response.json()) as { status: string }).status;
    if (seen === status) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`job ${id} is ${seen}, not ${status}`);
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${stack.url}/dashboard`);
  // Without a session the dashboard sends the browser to the sign-in page.
  expect(new URL(page.url()).pathname).toBe("/dashboard/login");
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
}

describe("the dashboard in a browser", () => {
  it("finds a failed job, shows its attempts, replays it until it succeeds, and cancels another", async () => {
    requireChromium();
    const { token } = await stack.createProject(["read", "write"]);
    // The receiver answers 500 to the first request on this path and 200 after: the first run
    // fails (no retries), the replay succeeds.
    const flakyUrl = `${stack.receiverUrl}/flaky/1/${crypto.randomUUID()}`;
    const failing = await createJob(token, {
      url: flakyUrl,
      max_retries: 0,
      headers: { Authorization: "Bearer s3cr3t" },
    });
    await waitForStatus(token, failing.id, "failed");
    const later = await createJob(token, { url: `${stack.receiverUrl}/ok/later`, delay: "1h" });

    const context = await newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await signIn(page, token);
    const cookies = await context.cookies();
    // A random session id, not the API token.
    expect(cookies.find((cookie) => cookie.name === "fliq_session")).toMatchObject({
      value: expect.stringMatching(/^[0-9a-f]{64}$/),
      httpOnly: true,
      secure: true,
      sameSite: "Strict",
      path: "/dashboard",
    });
    await expect.poll(() => page.locator("#count-failed").textContent()).toBe("1");
    await screenshot(page, "01-overview");

    // Find the failed job through the list's status filter.
    await page.getByRole("link", { name: "Jobs", exact: true }).click();
    await page.getByRole("checkbox", { name: "failed" }).check();
    await page.getByRole("button", { name: "Filter" }).click();
    const rows = page.locator("tbody tr");
    expect(await rows.count()).toBe(1);
    await screenshot(page, "02-failed-jobs");
    await page.getByRole("link", { name: `Job ${failing.id}` }).click();

    // Its attempts, and its request with the secret header redacted.
    await page.getByRole("heading", { name: "Attempt 1: failed (HTTP 500)", exact: true }).waitFor();
    expect(await page.locator("#request-headers").textContent()).toBe("Authorization: [redacted]");
    expect(await page.content()).not.toContain("s3cr3t");
    await screenshot(page, "03-failed-job");

    await page.getByRole("button", { name: "Replay" }).click();
    await page.getByRole("status").getByText("The job was replayed").waitFor();
    await waitForStatus(token, failing.id, "succeeded");
    await page.reload();
    await page.getByRole("heading", { name: "Attempt 2: succeeded (HTTP 200)", exact: true }).waitFor();
    expect(await page.locator(".status").first().textContent()).toBe("succeeded");
    await screenshot(page, "04-replayed-job");

    // Cancel a job scheduled for later, found by its id.
    await page.getByRole("link", { name: "Jobs", exact: true }).click();
    await page.getByLabel("Job id").fill(later.id);
    await page.getByRole("button", { name: "Open job" }).click();
    // Cancel asks first.
    await page.getByRole("button", { name: "Cancel job…" }).click();
    await page.getByRole("heading", { name: "Cancel this job?" }).waitFor();
    expect(await page.getByRole("status").count()).toBe(0);
    await page.getByRole("button", { name: "Yes, cancel the job" }).click();
    await page.getByRole("status").getByText("The job was canceled").waitFor();
    expect(await page.locator(".status").first().textContent()).toBe("canceled");
    await waitForStatus(token, later.id, "canceled");
    await screenshot(page, "05-canceled-job");

    // The same page on a phone, in dark mode.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${stack.url}/dashboard/jobs/${failing.id}`);
    await screenshot(page, "05b-job-phone-dark");

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByText("You are signed out.").waitFor();
    expect((await context.cookies()).find((cookie) => cookie.name === "fliq_session")).toBeUndefined();
    await page.goto(`${stack.url}/dashboard`);
    expect(new URL(page.url()).pathname).toBe("/dashboard/login");
    await context.close();
  });

  it("finds an expired job by its status, and shows its deadline and success_url at a desktop width and a phone's", async () => {
    requireChromium();
    const { token } = await stack.createProject(["read", "write"]);
    // Its first attempt fails with a retry due 5 to 10 s later, past its deadline: it expires at once.
    const expiring = await createJob(token, {
      url: `${stack.receiverUrl}/status/503/${crypto.randomUUID()}`,
      expires_at: new Date(Date.now() + 3_000).toISOString(),
      max_retry_duration: "1h",
      success_url: `${stack.receiverUrl}/ok/${crypto.randomUUID()}`,
    });
    await waitForStatus(token, expiring.id, "expired");

    const context = await newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    await signIn(page, token);
    await page.getByRole("link", { name: "Jobs", exact: true }).click();
    await page.getByRole("checkbox", { name: "expired" }).check();
    await page.getByRole("button", { name: "Filter" }).click();
    expect(await page.locator("tbody tr").count()).toBe(1);
    await page.getByRole("link", { name: `Job ${expiring.id}` }).click();
    expect(await page.locator(".status").first().textContent()).toBe("expired");
    const text = (await page.locator("main").textContent()) ?? "";
    expect(text).toContain("Expires at");
    expect(text).toContain("On success");
    expect(text).toContain("none later than 1.0 h after the first attempt");
    await page.getByRole("button", { name: "Replay" }).waitFor();
    await screenshot(page, "05c-expired-job");
    await page.setViewportSize(PHONE);
    expect(await scrollsSideways(page)).toBe(false);
    await context.close();
  });

  it("shows a read-only token its project's jobs with every action disabled, and no other project's", async () => {
    requireChromium();
    const writer = await stack.createProject(["read", "write"]);
    const job = await createJob(writer.token, { url: `${stack.receiverUrl}/ok/x`, delay: "1h" });
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, await stack.createToken(writer.projectId, ["read"]));
    await page.goto(`${stack.url}/dashboard/jobs/${job.id}`);
    await page.getByText("This token has the read scope only").waitFor();
    for (const name of ["Run now", "Cancel job…", "Reschedule"]) {
      expect(await page.getByRole("button", { name }).isDisabled()).toBe(true);
    }
    await screenshot(page, "06-read-only");
    await context.close();

    const stranger = await newContext();
    const strangerPage = await stranger.newPage();
    await signIn(strangerPage, (await stack.createProject(["read", "write"])).token);
    expectedErrors.push(/status of 404/);
    const response = await strangerPage.goto(`${stack.url}/dashboard/jobs/${job.id}`);
    expect(response?.status()).toBe(404);
    await stranger.close();
  });

  it("creates a token shown once, revokes it, and the revoked token can neither call the API nor sign in", async () => {
    requireChromium();
    const { token } = await stack.createProject(["read", "write", "admin"]);
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, token);
    await page.getByRole("link", { name: "Tokens and secrets" }).click();
    await page.getByRole("heading", { level: 1, name: "Tokens and signing secrets" }).waitFor();
    await page.getByLabel("Name").fill("deploy-bot");
    await page.getByRole("button", { name: "Create token" }).click();
    await page.getByRole("heading", { name: 'Token "deploy-bot" created' }).waitFor();
    const created = (await page.locator("#shown-once-value").textContent()) ?? "";
    expect(created).toMatch(/^fliq_sk_/);
    await screenshot(page, "08-token-created");
    const call = (secret: string) =>
      fetch(`${stack.url}/jobs`, { headers: { authorization: `Bearer ${secret}` } }).then((r) => r.status);
    expect(await call(created)).toBe(200);

    // Reloading the list shows the token by its prefix only.
    await page.goto(`${stack.url}/dashboard/tokens`);
    expect(await page.content()).not.toContain(created);
    await page.getByRole("button", { name: "Revoke deploy-bot" }).click();
    await page.getByText("The token was revoked").waitFor();
    await screenshot(page, "09-token-revoked");
    expect(await call(created)).toBe(401);

    const other = await newContext();
    const otherPage = await other.newPage();
    await otherPage.goto(`${stack.url}/dashboard/login`);
    await otherPage.getByLabel("API token").fill(created);
    await otherPage.getByRole("button", { name: "Sign in" }).click();
    expectedErrors.push(/status of 401/);
    await otherPage.getByText("That token was not accepted").waitFor();
    await other.close();
    await context.close();
  });

  it("pauses and resumes a schedule, and runs it once by hand", async () => {
    requireChromium();
    const { token } = await stack.createProject(["read", "write"]);
    const response = await fetch(`${stack.url}/schedules`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ cron: "0 9 * * 1", timezone: "Europe/Berlin", url: `${stack.receiverUrl}/ok/weekly` }),
    });
    expect(response.status).toBe(201);
    const schedule = (await response.json()) as { id: string };
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, token);
    await page.getByRole("link", { name: "Schedules" }).click();
    await page.getByRole("link", { name: `Schedule ${schedule.id}` }).click();
    await page.getByText("0 9 * * 1 in Europe/Berlin").waitFor();
    expect(await page.locator("ol li time").count()).toBe(5);
    await page.getByRole("button", { name: "Pause" }).click();
    await page.getByText("The schedule is paused").waitFor();
    await screenshot(page, "10-schedule-paused");
    await page.getByRole("button", { name: "Resume" }).click();
    await page.getByText("The schedule is active again.").waitFor();
    await page.getByRole("button", { name: "Run once now" }).click();
    await page.getByText("One run was started now").waitFor();
    await page.getByText("run by hand").waitFor();
    await screenshot(page, "11-schedule-run");
    await context.close();
  });

  it("moves keyboard focus visibly, starting with the skip link", async () => {
    requireChromium();
    const { token } = await stack.createProject(["read"]);
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, token);
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    const outline = await page.evaluate(() => {
      const active = document.activeElement as HTMLElement;
      return getComputedStyle(active).outlineStyle;
    });
    expect(outline).toBe("solid");
    await screenshot(page, "07-focus");
    await context.close();
  });

  for (const [name, viewport] of [
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ] as const) {
    it(`creates a job from the form on a ${name}, and its page follows its attempts live on a time axis`, async () => {
      requireChromium();
      const { token } = await stack.createProject(["read", "write"]);
      const context = await newContext({ viewport });
      const page = await context.newPage();
      await signIn(page, token);
      await page.getByRole("link", { name: "Jobs", exact: true }).click();
      await page.getByRole("link", { name: "New job" }).click();
      await page.getByRole("heading", { level: 1, name: "New job" }).waitFor();
      expect(await scrollsSideways(page)).toBe(false);

      // Refused as POST /jobs refuses it, in its words, with what was typed kept.
      await page.getByLabel("URL").fill("ftp://example.com/x");
      await page.getByLabel("Retries after the first attempt").fill("25");
      expectedErrors.push(/status of 422/);
      await page.getByRole("button", { name: "Create job" }).click();
      const summary = page.locator("#form-errors");
      await summary.waitFor();
      expect(await summary.textContent()).toContain("url: must be an absolute http(s) or service:// URL");
      expect(await summary.textContent()).toContain("max_retries: must be at most 20");
      expect(await page.getByLabel("URL").getAttribute("aria-invalid")).toBe("true");
      expect(await page.getByLabel("URL").inputValue()).toBe("ftp://example.com/x");
      await screenshot(page, `12-new-job-refused-${name}`);

      // The receiver fails the first request to this path and answers the retry: two attempts.
      const flakyUrl = `${stack.receiverUrl}/flaky/1/${crypto.randomUUID()}`;
      await page.getByLabel("Method").selectOption("PUT");
      await page.getByLabel("URL").fill(flakyUrl);
      await page.getByLabel("Headers").fill("Content-Type: application/json\nAuthorization: Bearer t0ps3cret");
      await page.getByLabel("Body").fill('{"hello":"world"}');
      await page.getByLabel("Retries after the first attempt").fill("2");
      await page.getByLabel("First retry after (ms)").fill("1000");
      await page.getByLabel("After a delay").check();
      await page.getByLabel("Delay", { exact: true }).fill("4s");
      await page.getByRole("button", { name: "Create job" }).click();
      await page.getByRole("status").getByText("The job was created.").waitFor();
      await page.getByRole("heading", { name: "Attempt 1: next" }).waitFor();
      expect(await page.content()).not.toContain("t0ps3cret");
      // From here on the page is never reloaded: what changes, it shows by itself.
      await page.evaluate(() => Object.assign(window, { notReloaded: true }));
      await page
        .getByRole("heading", { name: "Attempt 2: succeeded (HTTP 200)", exact: true })
        .waitFor({ timeout: 20_000 });
      expect(await page.evaluate(() => "notReloaded" in window)).toBe(true);
      expect(await page.locator("#live-status").textContent()).toMatch(/^Live: updated \d\d:\d\d:\d\d UTC$/);
      expect(await page.getByRole("heading", { name: "Attempt 1: retry (HTTP 500)", exact: true }).count()).toBe(1);
      expect(await page.locator("li.gap").first().textContent()).toMatch(
        /^\d+ ms backoff before attempt 2$|^\d\.\d s backoff before attempt 2$/,
      );
      expect(await page.locator("svg.axis-chart circle").count()).toBe(2);
      expect(await page.locator(".status").first().textContent()).toBe("succeeded");
      // Times to the millisecond.
      expect(await page.locator("#job-attempts time").first().textContent()).toMatch(
        /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC$/,
      );
      expect(await scrollsSideways(page)).toBe(false);
      await screenshot(page, `13-job-timeline-${name}`);
      await context.close();
    });
  }

  it("lays the jobs list and the overview out for a phone, follows new jobs live, and sorts by next run", async () => {
    requireChromium();
    const { token } = await stack.createProject(["read", "write"]);
    const longUrl = `${stack.receiverUrl}/ok/${"a-rather-long-path-segment/".repeat(4)}${crypto.randomUUID()}`;
    await createJob(token, { url: longUrl, delay: "2h", labels: { team: "billing" } });
    await createJob(token, { url: `${stack.receiverUrl}/ok/sooner`, delay: "1h" });
    const context = await newContext({ viewport: PHONE });
    const page = await context.newPage();
    await signIn(page, token);
    expect(await scrollsSideways(page)).toBe(false);
    await screenshot(page, "14-overview-phone");
    await page.goto(`${stack.url}/dashboard/jobs`);
    expect(await page.locator("tbody tr").count()).toBe(2);
    expect(await scrollsSideways(page)).toBe(false);
    // The URL has the card's width, so it wraps at the card's edge, not every few characters.
    const urlCell = page.locator("td.url", { hasText: "a-rather-long-path-segment" });
    const box = await urlCell.boundingBox();
    expect(box?.width ?? 0).toBeGreaterThan(PHONE.width * 0.8);
    // Every line of the URL but the last runs to the edge of its box: it breaks where the box ends.
    const lineWidths = await urlCell.evaluate((cell) => {
      // The URL is the cell's last text, after the method.
      const range = document.createRange();
      range.selectNodeContents(cell.lastChild ?? cell);
      const lines = new Map<number, number>();
      for (const rect of Array.from(range.getClientRects())) {
        const top = Math.round(rect.top);
        lines.set(top, Math.max(lines.get(top) ?? 0, rect.right - cell.getBoundingClientRect().left));
      }
      return { widths: [...lines.values()], box: cell.getBoundingClientRect().width };
    });
    expect(lineWidths.widths.length).toBeGreaterThan(1);
    for (const width of lineWidths.widths.slice(0, -1)) expect(width).toBeGreaterThan(lineWidths.box * 0.75);
    expect(await page.locator("td.time time[data-relative]").first().textContent()).toMatch(/ago$|^now$/);
    await screenshot(page, "15-jobs-phone");

    // A job created elsewhere shows up without a reload.
    await createJob(token, { url: `${stack.receiverUrl}/ok/live`, delay: "30m" });
    await expect.poll(() => page.locator("tbody tr").count(), { timeout: 15_000 }).toBe(3);

    // Soonest first: the time column is the next run, in order.
    await page.getByLabel("Order").selectOption("soonest");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByRole("columnheader", { name: "Next run" }).waitFor({ state: "attached" });
    const times = await page
      .locator("td.time time")
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute("datetime") ?? ""));
    expect(times).toHaveLength(3);
    expect(times).toEqual([...times].sort());
    expect(await page.locator("td.time time").first().textContent()).toMatch(/^in (29|30) min$/);
    await context.close();
  });

  it("creates a schedule from its form on a phone", async () => {
    requireChromium();
    const { token } = await stack.createProject(["read", "write"]);
    const context = await newContext({ viewport: PHONE });
    const page = await context.newPage();
    await signIn(page, token);
    await page.goto(`${stack.url}/dashboard/schedules`);
    await page.getByRole("link", { name: "New schedule" }).click();
    await page.getByRole("heading", { level: 1, name: "New schedule" }).waitFor();
    expect(await scrollsSideways(page)).toBe(false);
    await page.getByLabel("Cron expression").fill("0 9 30 2 *");
    await page.getByLabel("URL").fill(`${stack.receiverUrl}/ok/daily`);
    expectedErrors.push(/status of 422/);
    await page.getByRole("button", { name: "Create schedule" }).click();
    await page.locator("#form-errors").getByText("cron").first().waitFor();
    await page.getByLabel("Cron expression").fill("0 9 * * MON-FRI");
    await page.getByLabel("Time zone").fill("Europe/Berlin");
    await page.getByRole("button", { name: "Create schedule" }).click();
    await page.getByText("The schedule was created.").waitFor();
    await page.getByText("0 9 * * MON-FRI in Europe/Berlin").waitFor();
    expect(await scrollsSideways(page)).toBe(false);
    await screenshot(page, "16-schedule-created-phone");
    await context.close();
  });

  for (const [name, viewport] of [
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ] as const) {
    it(`creates a topic from its page on a ${name}, and a published message's job page lists its deliveries`, async () => {
      requireChromium();
      const { token } = await stack.createProject(["read", "write"]);
      const context = await newContext({ viewport });
      const page = await context.newPage();
      await signIn(page, token);
      await page.getByRole("link", { name: "Topics" }).click();
      await page.getByRole("heading", { level: 1, name: "Topics" }).waitFor();
      expect(await scrollsSideways(page)).toBe(false);
      const endpoints = [`${stack.receiverUrl}/ok/crm`, `${stack.receiverUrl}/ok/mail`];
      await page.getByLabel("Name").fill("user.signed-up");
      await page.getByLabel("Endpoints, one URL a line").fill(endpoints.join("\n"));
      await page.getByRole("button", { name: "Create topic" }).click();
      await page.getByText("The topic was created.").waitFor();
      await page.getByRole("heading", { level: 2, name: "user.signed-up" }).waitFor();
      expect(await scrollsSideways(page)).toBe(false);
      await screenshot(page, `17-topic-created-${name}`);

      const published = await fetch(`${stack.url}/topics/user.signed-up/jobs`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ delay: "1h" }),
      });
      expect(published.status).toBe(201);
      const { jobs } = (await published.json()) as { jobs: Array<{ id: string }> };
      await page.goto(`${stack.url}/dashboard/jobs/${jobs[0].id}`);
      await page.getByText("delivered to 2 endpoints").waitFor();
      await page.locator("#message-deliveries").getByRole("link", { name: endpoints[1] }).waitFor();
      expect(await scrollsSideways(page)).toBe(false);
      await context.close();
    });
  }

  it("works without script: pages are whole, the forms create and cancel", async () => {
    requireChromium();
    const { token } = await stack.createProject(["read", "write"]);
    const context = await newContext({ viewport: DESKTOP, javaScriptEnabled: false });
    const page = await context.newPage();
    await signIn(page, token);
    expect(await page.evaluate(() => "no script runs")).toBe("no script runs");
    await page.getByRole("heading", { name: "Jobs by status" }).waitFor();
    await page.goto(`${stack.url}/dashboard/jobs/new`);
    await page.getByLabel("URL").fill(`${stack.receiverUrl}/ok/no-script`);
    await page.getByLabel("After a delay").check();
    await page.getByLabel("Delay", { exact: true }).fill("1h");
    await page.getByRole("button", { name: "Create job" }).click();
    await page.getByText("The job was created.").waitFor();
    await page.getByRole("heading", { name: "Attempt 1: next" }).waitFor();
    // Without script nothing fills the live status line.
    expect(await page.locator("#live-status").textContent()).not.toContain("Live:");
    await page.getByRole("button", { name: "Cancel job…" }).click();
    await page.getByRole("button", { name: "Yes, cancel the job" }).click();
    await page.getByText("The job was canceled").waitFor();
    await context.close();
  });

  it("opens the interactive API reference from the dashboard, rendered from /openapi.json with no outside request", async () => {
    requireChromium();
    const { token } = await stack.createProject(["read"]);
    const context = await newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const outside: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(stack.url)) outside.push(request.url());
    });
    await signIn(page, token);
    await page.getByRole("link", { name: "API reference" }).click();
    await page.locator(".swagger-ui .info .title").getByText("Fliq").waitFor({ timeout: 20_000 });
    await page.locator(".opblock-summary-path", { hasText: "/jobs" }).first().waitFor();
    expect(outside).toEqual([]);
    await screenshot(page, "17-api-reference");
    await context.close();
  });
});
