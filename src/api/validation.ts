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
  const protoPath = pathOfProtoKey(raw);
  if (protoPath !== undefined) {
    throw new ApiError(422, "validation_failed", "The request is not valid; see details.", [
      { path: protoPath, message: '"__proto__" cannot be used as a name' },
    ]);
  }
  return parseOrThrow(schema, raw);
}

/**
 * Where a `__proto__` key sits in parsed JSON, if anywhere. Copying such an object (as
 * validation does) sets a prototype instead of a key, so the name would silently vanish from
 * what is stored: it is refused instead.
 */
function pathOfProtoKey(value: unknown, path: string[] = []): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, child] of Object.entries(value)) {
    const childPath = [...path, key];
    if (key === "__proto__") return childPath.join(".");
    const found = pathOfProtoKey(child, childPath);
    if (found !== undefined) return found;
  }
  return undefined;
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
