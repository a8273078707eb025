/**
 * The signup → send-welcome Worker: POST /signup answers at once and asks Fliq to call
 * /api/send-welcome later; that route accepts only callbacks Fliq signed, and sends the email.
 */
import { createFliqClient, FliqError } from "@fliq/client";
import { type FliqVerifyVariables, fliqVerify } from "@fliq/client/hono";
import { Hono } from "hono";

export interface Bindings {
  FLIQ_URL: string;
  FLIQ_API_TOKEN: string;
  FLIQ_SIGNING_SECRET: string;
  WELCOME_DELAY?: string;
  EMAIL_API_URL?: string;
  EMAIL_API_KEY?: string;
  /** Optional service binding to Fliq in the same account; used instead of FLIQ_URL's public route. */
  FLIQ?: Fetcher;
  /** This Worker's public origin; by default the origin /signup was called on. */
  PUBLIC_URL?: string;
}

interface WelcomePayload {
  email: string;
}

type Env = { Bindings: Bindings; Variables: FliqVerifyVariables };

const app = new Hono<Env>();

app.post("/signup", async (c) => {
  const { email } = await c.req.json<{ email?: unknown }>().catch(() => ({ email: undefined }));
  if (typeof email !== "string" || !/^[^@\s]+@[^@\s]+$/.test(email)) {
    return c.json({ error: { code: "invalid_email", message: 'Send {"email": "…"}.', details: [] } }, 400);
  }
  // … store the user here …
  const fliq = createFliqClient({
    baseUrl: c.env.FLIQ_URL,
    token: c.env.FLIQ_API_TOKEN,
    ...(c.env.FLIQ && { fetch: (request: Request) => (c.env.FLIQ as Fetcher).fetch(request) }),
  });
  const origin = c.env.PUBLIC_URL ?? new URL(c.req.url).origin;
  try {
    const job = await fliq.createJob(
      {
        url: `${origin}/api/send-welcome`,
        delay: c.env.WELCOME_DELAY ?? "1h",
        json: { email } satisfies WelcomePayload,
        labels: { flow: "welcome" },
      },
      // One welcome per address, even if the signup is submitted twice (and safe for the client to retry).
      { idempotencyKey: `welcome:${email}` },
    );
    return c.json({ welcome_job: job.id, welcome_at: job.scheduled_at }, 202);
  } catch (error) {
    if (!(error instanceof FliqError)) throw error;
    console.error("scheduling the welcome email failed", error.code, error.message);
    return c.json({ error: { code: "welcome_not_scheduled", message: error.message, details: [] } }, 502);
  }
});

app.post(
  "/api/send-welcome",
  // Only callbacks signed with our Fliq project's secret, fresh, and not seen before, get past this.
  fliqVerify<Env>({ secrets: (c) => c.env.FLIQ_SIGNING_SECRET }),
  async (c) => {
    const callback = c.var.fliqCallback;
    const payload = callback.payload as WelcomePayload | undefined;
    if (!payload?.email) return c.json({ error: { code: "invalid_payload", message: "No email.", details: [] } }, 422);
    const email = {
      to: payload.email,
      subject: "Welcome aboard",
      text: "Thanks for signing up. We are glad you are here.",
    };
    if (!c.env.EMAIL_API_URL) {
      console.log("welcome email (no EMAIL_API_URL set)", email);
      return c.json({ sent: false, to: email.to });
    }
    const sent = await fetch(c.env.EMAIL_API_URL, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        // Fliq delivers at least once; webhook-id is the same on every retry, so the provider sends one email.
        "idempotency-key": callback.webhookId,
        ...(c.env.EMAIL_API_KEY && { authorization: `Bearer ${c.env.EMAIL_API_KEY}` }),
      },
      body: JSON.stringify({ ...email, fliq: { job_id: callback.jobId, attempt: callback.attempt } }),
    });
    // A failure answers 502, so Fliq retries later with backoff.
    if (!sent.ok) return c.json({ error: { code: "email_failed", message: `HTTP ${sent.status}`, details: [] } }, 502);
    return c.json({ sent: true, to: email.to });
  },
);

export default app;
