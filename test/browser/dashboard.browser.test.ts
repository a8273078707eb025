/**
 * The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against a
 * real running Fliq: sign in, find a failed job, read its attempts, replay it and watch it
 * succeed, cancel a job, sign out. Screenshots go to test-artifacts/ (not in git).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
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
    await page.getByRole("heading", { name: "Attempt 1: failed (HTTP 500)" }).waitFor();
    expect(await page.locator("#request-headers").textContent()).toBe("Authorization: [redacted]");
    expect(await page.content()).not.toContain("s3cr3t");
    await screenshot(page, "03-failed-job");

    await page.getByRole("button", { name: "Replay" }).click();
    await page.getByRole("status").getByText("The job was replayed").waitFor();
    await waitForStatus(token, failing.id, "succeeded");
    await page.reload();
    await page.getByRole("heading", { name: "Attempt 2: succeeded (HTTP 200)" }).waitFor();
    expect(await page.locator(".status").first().textContent()).toBe("succeeded");
    await screenshot(page, "04-replayed-job");

    // Cancel a job scheduled for later, found by its id.
    await page.getByRole("link", { name: "Jobs", exact: true }).click();
    await page.getByLabel("Job id").fill(later.id);
    await page.getByRole("button", { name: "Open job" }).click();
    await page.getByRole("button", { name: "Cancel job" }).click();
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

  it("shows a read-only token its project's jobs with every action disabled, and no other project's", async () => {
    requireChromium();
    const writer = await stack.createProject(["read", "write"]);
    const job = await createJob(writer.token, { url: `${stack.receiverUrl}/ok/x`, delay: "1h" });
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, await stack.createToken(writer.projectId, ["read"]));
    await page.goto(`${stack.url}/dashboard/jobs/${job.id}`);
    await page.getByText("This token has the read scope only").waitFor();
    for (const name of ["Run now", "Cancel job", "Reschedule"]) {
      expect(await page.getByRole("button", { name }).isDisabled()).toBe(true);
    }
    await screenshot(page, "06-read-only");
    await context.close();

    const stranger = await browser.newContext();
    const strangerPage = await stranger.newPage();
    await signIn(strangerPage, (await stack.createProject(["read", "write"])).token);
    const response = await strangerPage.goto(`${stack.url}/dashboard/jobs/${job.id}`);
    expect(response?.status()).toBe(404);
    await stranger.close();
  });

  it("creates a token shown once, revokes it, and the revoked token can neither call the API nor sign in", async () => {
    requireChromium();
    const { token } = await stack.createProject(["read", "write", "admin"]);
    const context = await browser.newContext();
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

    const other = await browser.newContext();
    const otherPage = await other.newPage();
    await otherPage.goto(`${stack.url}/dashboard/login`);
    await otherPage.getByLabel("API token").fill(created);
    await otherPage.getByRole("button", { name: "Sign in" }).click();
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
    const context = await browser.newContext();
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
    const context = await browser.newContext();
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
});
