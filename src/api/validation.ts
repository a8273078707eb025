import type { Context } from "hono";
import type { z } from "zod";
import { ApiError } from "./errors";

/**
 * Reads and validates a JSON body. Malformed JSON is 400 `invalid_json`; JSON that breaks
 * the schema is 422 `validation_failed` with one detail per problem.
 */
export async function parseJsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new ApiError(400, "invalid_json", "The request body must be a JSON object.");
  }
  return parseOrThrow(schema, raw);
}

/** Validates any input against a schema, throwing the API's 422 on failure. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join(".") || "(body)",
    message: issue.message,
  }));
  throw new ApiError(422, "validation_failed", "The request is not valid; see details.", details);
}
