/**
 * Destination health's wire format: a project's destinations with their recent outcomes and
 * state, resuming one by hand, and the project's alert URL. Imports zod and the jobs' wire format only.
 */
import { z } from "zod";
import { DESTINATION_PAUSE_AFTER } from "../jobs/destination-health";
import { isoDateTime, jobFields } from "./jobs";

export const destinationIdParam = z.uuid();

/** A destination as the API shows it. */
export const destinationResponse = z.object({
  id: z.uuid(),
  /** Scheme, host and port, as callbacks' URLs name them: `https://api.example.com`. */
  destination: z.string(),
  state: z.enum(["healthy", "paused"]),
  /** Failed attempts in a row, across the project's jobs (paused at DESTINATION_PAUSE_AFTER). */
  consecutive_failures: z.int(),
  attempts: z.int(),
  failures: z.int(),
  /** Of about the last 20 attempts, the share that got an answer (moving average, 0 to 1). */
  success_rate: z.number().nullable(),
  /** How long about the last 20 attempts took, in ms (moving average). */
  latency_ms: z.number().nullable(),
  last_attempt_at: isoDateTime.nullable(),
  last_success_at: isoDateTime.nullable(),
  paused_at: isoDateTime.nullable(),
  /** When a paused destination's next probe may go. */
  next_probe_at: isoDateTime.nullable(),
});

export const destinationListResponse = z.object({ destinations: z.array(destinationResponse) });

/** `PATCH /destinations/alert-url`: where pauses and resumes are told; null stops telling. */
export const alertUrlRequest = z.strictObject({
  url: jobFields.url
    .meta({
      description: `Told, by a signed POST, when a destination pauses (after ${DESTINATION_PAUSE_AFTER} failures in a row) or resumes; an http(s) or service:// URL, like a job's url.`,
    })
    .nullable(),
});

export const alertUrlResponse = z.object({ url: z.string().nullable() });
