/**
 * Makes one callback: the user's request, exactly, with a timeout and no redirects followed.
 */
import type { JobRow } from "../db/schema";
import type { AttemptResult } from "../jobs/delivery-policy";

/** How much of a response body is kept on the attempt record. */
export const RESPONSE_EXCERPT_MAX_CHARS = 1024;

type Callback = Pick<JobRow, "url" | "httpMethod" | "headers" | "body" | "timeoutMs">;

/** Fires the callback and reports what happened; never throws. */
export async function deliverCallback(job: Callback): Promise<AttemptResult> {
  const firedAt = new Date();
  const signal = AbortSignal.timeout(job.timeoutMs);
  try {
    const response = await fetch(job.url, {
      method: job.httpMethod,
      headers: job.headers,
      body: job.body,
      redirect: "manual",
      signal,
    });
    const responseExcerpt = await readExcerpt(response);
    return { firedAt, durationMs: Date.now() - firedAt.getTime(), statusCode: response.status, responseExcerpt };
  } catch (error) {
    const timedOut = signal.aborted;
    return {
      firedAt,
      durationMs: Date.now() - firedAt.getTime(),
      errorClass: timedOut ? "timeout" : "network_error",
      errorMessage: timedOut ? `no response within ${job.timeoutMs} ms` : String(error),
    };
  }
}

/** Reads at most RESPONSE_EXCERPT_MAX_CHARS of the body, then drops the rest unread. */
async function readExcerpt(response: Response): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (text.length < RESPONSE_EXCERPT_MAX_CHARS) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return text.slice(0, RESPONSE_EXCERPT_MAX_CHARS);
}
