import type { Context } from "hono";
import type { z } from "zod";
import { ApiError, validationFailed } from "../wire/errors";
import { parseOrThrow } from "../wire/validation";

/**
 * How deeply a request body may nest objects and arrays. Fliq's deepest request is a handful
 * of levels; validation and the checks below recurse, and JSON nested thousands of levels deep
 * overflowed the stack (a 500) before this limit.
 */
export const JSON_MAX_DEPTH = 32;

/**
 * Reads and validates a JSON body. Malformed JSON is 400 `invalid_json`; JSON nested deeper
 * than JSON_MAX_DEPTH or breaking the schema is 422 `validation_failed` with one detail per
 * problem. Every endpoint that takes a JSON body reads it here.
 */
export async function parseJsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const text = await c.req.text();
  // Measured on the text, before anything recursive touches the value.
  if (nestingDepthExceeds(text, JSON_MAX_DEPTH)) {
    throw validationFailed([{ path: "(body)", message: `must not be nested more than ${JSON_MAX_DEPTH} levels deep` }]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ApiError("invalid_json", "The request body must be a JSON object.");
  }
  const protoPath = pathOfProtoKey(raw);
  if (protoPath !== undefined) {
    throw validationFailed([{ path: protoPath, message: '"__proto__" cannot be used as a name' }]);
  }
  return parseOrThrow(schema, raw);
}

/**
 * Whether JSON text opens more than `maxDepth` objects or arrays inside one another, counting
 * brackets outside strings. Text that is not JSON is left to the parser to refuse.
 */
export function nestingDepthExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c /* \ */) i++;
      else if (char === 0x22 /* " */) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x7b /* { */ || char === 0x5b /* [ */) {
      if (++depth > maxDepth) return true;
    } else if (char === 0x7d /* } */ || char === 0x5d /* ] */) {
      depth--;
    }
  }
  return false;
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
