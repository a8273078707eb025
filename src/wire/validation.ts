/**
 * Validation of any input against a wire schema, with the one 422 answer: shared by the API,
 * the dashboard's forms and the actions.
 */
import type { z } from "zod";
import { validationFailed } from "./errors";
import { detailsOf, type InputSource, ruleMessage } from "./validation-messages";

/** Where the Idempotency-Key header's problems are reported. */
export const IDEMPOTENCY_KEY: InputSource = { in: "header", name: "Idempotency-Key" };

/**
 * Validates any input against a schema, throwing the API's 422 on failure with one detail per
 * problem in words a new user understands; `source` says whether it is the body (the default),
 * the query or a header.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  source: InputSource = { in: "body" },
): z.output<S> {
  const result = schema.safeParse(input, { error: ruleMessage });
  if (result.success) return result.data;
  throw validationFailed(detailsOf(result.error.issues, input, schema, source));
}
