/**
 * End to end: examples/welcome-worker beside Fliq, every hop over real HTTP (see
 * test/setup/welcome-worker.ts). A signup schedules the welcome job through the SDK; the clock
 * is moved by back-dating the job; Fliq's tick fires the signed callback at the example, whose
 * verification middleware lets it through, and the example hands the email to the "provider"
 * (the test receiver), which is where the test reads it.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { signWebhook } from "../src/auth/webhook-signature";
import { jobs } from "../src/db/schema";
import { moveRunAt, openTestDatabase, receivedAt, testEnv, tickNow } from "./support/fliq";

/** The example's URLs and credentials, set in vitest.config.ts from test/setup/welcome-worker.ts. */
interface WelcomeExample {
  fliqUrl: string;
  workerUrl: string;
  projectId: string;
  token: string;
  signingSecret: string;
  bundledFiles: string[];
}
const example = (env as unknown as { WELCOME_EXAMPLE: WelcomeExample }).WELCOME_EXAMPLE;
const WELCOME_WORKER_URL = example.workerUrl;
const database = openTestDatabase();
afterAll(() => database.close());

const emailsSentTo = async (address: string) => {
  const all = await receivedAt(`${testEnv.RECEIVER_URL}/ok/welcome-emails`);
  return all.filter((request) => JSON.parse(request.body).to === address);
};

const signUp = (email: string) =>
  fetch(`${WELCOME_WORKER_URL}/signup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email }),
  });

describe("examples/welcome-worker", () => {
  it("schedules the welcome email at signup, and sends it when Fliq's signed callback arrives", async () => {
    const email = `user-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const signupAt = Date.now();
    const signup = await signUp(email);
    expect(signup.status).toBe(202);
    const { welcome_job: jobId, welcome_at } = (await signup.json()) as { welcome_job: string; welcome_at: string };

    const [job] = await database.db.select().from(jobs).where(eq(jobs.id, jobId));
    expect(job).toMatchObject({
      projectId: example.projectId,
      url: `${WELCOME_WORKER_URL}/api/send-welcome`,
      body: JSON.stringify({ email }),
      status: "scheduled",
      labels: { flow: "welcome" },
    });
    expect(new Date(welcome_at).getTime() - signupAt).toBeGreaterThan(3_590_000);
    expect(await emailsSentTo(email)).toEqual([]);

    // An hour later: back-date the job instead of waiting, and let the tick fire it.
    await moveRunAt(database.db, jobId, new Date());
    await tickNow();

    const [finished] = await database.db.select().from(jobs).where(eq(jobs.id, jobId));
    expect(finished).toMatchObject({ status: "succeeded", attempt: 1, lastStatusCode: 200 });
    const sent = await emailsSentTo(email);
    expect(sent).toHaveLength(1);
    // The job id and attempt come from the verified callback's metadata.
    expect(JSON.parse(sent[0].body)).toEqual({
      to: email,
      subject: "Welcome aboard",
      text: expect.any(String),
      fliq: { job_id: jobId, attempt: 1 },
    });
    expect(sent[0].headers["idempotency-key"]).toBe(finished.webhookId);
  });

  it("schedules one welcome per address, however often the signup is sent", async () => {
    const email = `twice-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const first = (await (await signUp(email)).json()) as { welcome_job: string };
    const second = await signUp(email);
    expect(second.status).toBe(202);
    expect(((await second.json()) as { welcome_job: string }).welcome_job).toBe(first.welcome_job);
  });

  it("refuses a signup without an email", async () => {
    const response = await fetch(`${WELCOME_WORKER_URL}/signup`, { method: "POST", body: "{}" });
    expect(response.status).toBe(400);
  });

  it("sends nothing for an unsigned, wrongly signed or replayed call to /api/send-welcome", async () => {
    const email = `forged-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const body = JSON.stringify({ email });
    const post = (headers: Record<string, string>) =>
      fetch(`${WELCOME_WORKER_URL}/api/send-welcome`, { method: "POST", headers, body });
    expect((await post({ "content-type": "application/json" })).status).toBe(401);

    const id = `msg_${crypto.randomUUID().replaceAll("-", "")}`;
    const timestampSeconds = Math.floor(Date.now() / 1000);
    const signed = (signature: string) => ({
      "webhook-id": id,
      "webhook-timestamp": String(timestampSeconds),
      "webhook-signature": signature,
    });
    const forged = await signWebhook(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], { id, timestampSeconds, body });
    expect((await post(signed(forged))).status).toBe(401);
    expect(await emailsSentTo(email)).toEqual([]);

    // Signed with the example's real secret: accepted once, then refused as a replay.
    const genuine = await signWebhook([example.signingSecret], { id, timestampSeconds, body });
    expect((await post(signed(genuine))).status).toBe(200);
    expect((await post(signed(genuine))).status).toBe(409);
    expect(await emailsSentTo(email)).toHaveLength(1);
  });

  it("reaches Fliq's API over HTTP the same way the example does", async () => {
    const response = await fetch(`${example.fliqUrl}/jobs`, { headers: { authorization: `Bearer ${example.token}` } });
    expect(response.status).toBe(200);
  });

  it("bundles the installed client package, without zod or any server code", () => {
    const files = example.bundledFiles;
    const fromPackage = files.filter((file) => file.includes("node_modules/@fliq/client/dist/"));
    expect(fromPackage.map((file) => file.slice(file.lastIndexOf("/") + 1))).toEqual(
      expect.arrayContaining(["index.js", "fliq-client.js", "verify-callback.js", "hono-middleware.js"]),
    );
    expect(files.filter((file) => /node_modules\/zod|src\//.test(file) && !file.startsWith("examples/"))).toEqual([]);
  });
});
