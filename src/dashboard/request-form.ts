/**
 * The dashboard's job and schedule forms, read into the very input `POST /jobs` and
 * `POST /schedules` take, so that the API's zod schemas validate it and answer in their own
 * words. Nothing here judges a value: it only moves the form's text into the API's fields
 * (a number typed into a number field becomes a JSON number; anything else stays text, for the
 * schema to refuse). The one thing checked here is the form's own syntax for headers.
 */
import type { ErrorDetail } from "../wire/errors";
import { fromDateTimeLocalValue } from "./format";

/** A submitted form's text fields (files and repeated fields read as absent). */
export type FormFields = Record<string, string | undefined>;

/** When a job from the form runs: now, after a delay, or at a time (UTC). */
export const WHEN_CHOICES = { now: "Now", delay: "After a delay", at: "At a time (UTC)" } as const;

export type WhenChoice = keyof typeof WHEN_CHOICES;

/** The form's field names: the API's, with nested fields dotted as its error paths are. */
export const REQUEST_FIELDS = [
  "http_method",
  "url",
  "headers",
  "body",
  "max_retries",
  "timeout_ms",
  "retry_backoff.initial_delay_ms",
  "retry_backoff.max_delay_ms",
] as const;

/** A number as the API takes it when the text is one, else the text itself (the schema says what is wrong). */
function numberOrText(text: string): number | string {
  return /^-?\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : text;
}

/**
 * "Name: value" lines as a headers object. A non-empty line without a colon is the one problem
 * this form finds itself, reported on `headers` like the API's own header problems.
 */
function headersOf(text: string): { headers: Record<string, string>; problems: ErrorDetail[] } {
  const headers: Record<string, string> = {};
  const problems: ErrorDetail[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === "") return;
    const colon = line.indexOf(":");
    if (colon <= 0) {
      problems.push({ path: "headers", message: `line ${index + 1} is not "Name: value"` });
      return;
    }
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  });
  return { headers, problems };
}

/** The request part shared by both forms: method, URL, headers, body and the retry policy. */
function requestInput(form: FormFields): { input: Record<string, unknown>; problems: ErrorDetail[] } {
  const text = (name: string) => form[name] ?? "";
  const { headers, problems } = headersOf(text("headers"));
  const input: Record<string, unknown> = {
    url: text("url").trim(),
    http_method: text("http_method") || "POST",
    headers,
    // An empty body is no body, as the API's default.
    body: text("body") === "" ? null : text("body"),
  };
  for (const name of ["max_retries", "timeout_ms"]) {
    if (text(name).trim() !== "") input[name] = numberOrText(text(name));
  }
  const backoff: Record<string, unknown> = {};
  for (const name of ["initial_delay_ms", "max_delay_ms"]) {
    const value = text(`retry_backoff.${name}`);
    if (value.trim() !== "") backoff[name] = numberOrText(value);
  }
  if (Object.keys(backoff).length > 0) input.retry_backoff = backoff;
  return { input, problems };
}

/** The job form as the input of `POST /jobs`. */
export function jobInputOf(form: FormFields): { input: Record<string, unknown>; problems: ErrorDetail[] } {
  const { input, problems } = requestInput(form);
  const when = form.when as WhenChoice | undefined;
  if (when === "delay") input.delay = numberOrText(form.delay ?? "");
  if (when === "at") input.scheduled_at = fromDateTimeLocalValue(form.scheduled_at ?? "");
  return { input, problems };
}

/** The schedule form as the input of `POST /schedules`. */
export function scheduleInputOf(form: FormFields): { input: Record<string, unknown>; problems: ErrorDetail[] } {
  const { input, problems } = requestInput(form);
  input.cron = form.cron ?? "";
  if ((form.timezone ?? "").trim() !== "") input.timezone = (form.timezone ?? "").trim();
  for (const name of ["starts_at", "ends_at"]) {
    const value = form[name] ?? "";
    if (value.trim() !== "") input[name] = fromDateTimeLocalValue(value);
  }
  return { input, problems };
}
