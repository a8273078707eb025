/**
 * Flow control's wire format: the `flow` a job names, and the flow keys API (list, read,
 * change, pause, resume). Imports zod and the pure rules of src/jobs/ only.
 */
import { z } from "zod";
import { parseDurationMs } from "../jobs/duration";
import { FLOW_LIMITS, HEAD_FAILURE_POLICIES } from "../jobs/flow-control";

/** A flow key's name: printable ASCII without spaces or '/', so it can stand in a URL path as it is. */
export const flowKeyName = z
  .string()
  .min(1)
  .max(FLOW_LIMITS.keyMaxLength)
  .regex(/^[A-Za-z0-9._:@-]+$/, "must be letters, digits, '.', '_', ':', '@' or '-'");

/** A rate's period: seconds, or a duration such as "1s", "1m", "1h"; from 1 s to 1 day, in milliseconds once parsed. */
const periodSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = parseDurationMs(value);
  if (ms === undefined || ms < FLOW_LIMITS.ratePeriodMsMin || ms > FLOW_LIMITS.ratePeriodMsMax) {
    ctx.addIssue({
      code: "custom",
      message: 'must be seconds or a duration such as "1s", "1m", "1h", from 1 second to 1 day',
    });
    return z.NEVER;
  }
  return ms;
});

const rateSchema = z
  .strictObject({
    limit: z.int().min(1).max(FLOW_LIMITS.rateLimitMax),
    period: periodSchema.default(1_000),
  })
  .meta({ description: 'At most `limit` callbacks leave per `period` (seconds or a duration such as "1s", "1m").' });

const parallelismSchema = z
  .int()
  .min(1)
  .max(FLOW_LIMITS.parallelismMax)
  .meta({ description: "At most this many callbacks of the key in flight at once." });

const headFailureSchema = z.enum(HEAD_FAILURE_POLICIES).meta({
  description:
    "An ordered key whose head fails for good: `wait` pauses the key until it is resumed (nothing goes out of order), `skip` lets the next job go.",
});

/** An ordered key delivers one at a time: a parallelism other than 1 contradicts it. */
function orderedMeansOneAtATime<T extends z.ZodType<{ ordered?: boolean; parallelism?: number | null }>>(schema: T) {
  return schema.refine((flow) => !flow.ordered || flow.parallelism == null || flow.parallelism === 1, {
    path: ["parallelism"],
    message: "must be 1 or left out on an ordered key: an ordered key delivers one job at a time",
  });
}

/**
 * A job's `flow`: the key it is delivered under and, for a key not yet known, its limits. A key
 * is created with the limits of the first job that names it; later jobs' limits do not change
 * a key's stored ones (PATCH /flow-keys/:key does).
 */
export const jobFlowField = orderedMeansOneAtATime(
  z.strictObject({
    key: flowKeyName,
    rate: rateSchema.optional(),
    parallelism: parallelismSchema.optional(),
    ordered: z.boolean().default(false).meta({
      description: "Deliver the key's jobs one at a time, in the order of their due times (then creation).",
    }),
    on_head_failure: headFailureSchema.default("wait"),
  }),
).meta({
  description:
    "Flow control: jobs naming the same key share its rate, parallelism and order, across every invocation. The key is created with these limits if the project has none of that name; an existing key keeps its own (change them with PATCH /flow-keys/{key}).",
});

export type JobFlow = z.output<typeof jobFlowField>;

/** `PATCH /flow-keys/:key`: new limits; what is left out keeps its value, null removes a limit. */
export const updateFlowKeyRequest = orderedMeansOneAtATime(
  z.strictObject({
    rate: rateSchema.nullable().optional(),
    parallelism: parallelismSchema.nullable().optional(),
    ordered: z.boolean().optional(),
    on_head_failure: headFailureSchema.optional(),
  }),
).refine((request) => Object.keys(request).length > 0, {
  message: "must name at least one of rate, parallelism, ordered, on_head_failure",
});

export type UpdateFlowKeyRequest = z.output<typeof updateFlowKeyRequest>;

/** `GET /flow-keys` query. */
export const listFlowKeysQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(FLOW_LIMITS.listLimitMax).default(100),
  after: flowKeyName.optional().meta({ description: "The last key of the previous page: keys come in name order." }),
});

const isoDateTime = z.iso.datetime({ offset: true });

/** A flow key as the API shows it: its limits, state and backlog. */
export const flowKeyResponse = z.object({
  key: z.string(),
  rate: z.object({ limit: z.int(), period_ms: z.int() }).nullable(),
  parallelism: z.int().nullable(),
  ordered: z.boolean(),
  on_head_failure: z.enum(HEAD_FAILURE_POLICIES),
  paused: z.boolean(),
  /** Why it is paused: `manual` (POST …/pause) or `head_failed` (an ordered key's head failed for good). */
  paused_reason: z.enum(["manual", "head_failed"]).nullable(),
  /** Attempts of the key running now. */
  in_flight: z.int(),
  /** Jobs of the key waiting to be delivered (scheduled, not running). */
  waiting: z.int(),
  /** Of those, jobs already past their time: held back by the key. */
  held: z.int(),
  /** The earliest time among the waiting jobs (null when none wait). */
  oldest_due_at: isoDateTime.nullable(),
  created_at: isoDateTime,
  updated_at: isoDateTime,
});

export const flowKeyPageResponse = z.object({
  flow_keys: z.array(flowKeyResponse),
  /** Pass as `after` for the next page (null after the last). */
  next_after: z.string().nullable(),
});
