/**
 * Turns zod's validation issues into details a new user understands: each names the rule that
 * was broken ("is required", "must be at most 20", "unknown field; did you mean
 * "scheduled_at"?"), one per input, located in the body, the query or the header it came from.
 */
import { z } from "zod";
import type { ErrorDetail } from "./errors";

/** Where validated input came from: it names a problem with the input as a whole, and unknown keys. */
export type InputSource = { in: "body" } | { in: "query" } | { in: "header"; name: string };

/**
 * Messages for zod's built-in checks, in the API's words. Messages a schema sets itself (such
 * as the URL rule) take precedence over these; anything not covered keeps zod's message.
 */
export function ruleMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_type":
      if (issue.input === undefined) return "is required";
      return `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
    case "too_small":
    case "too_big":
      return boundMessage(issue);
    case "invalid_value":
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(", ")}`;
    case "invalid_format":
      return issue.format === "uuid" ? "must be a UUID" : `must be a valid ${issue.format}`;
    default:
      return undefined;
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "an object",
  array: "an array",
  record: "an object",
  null: "null",
};

function boundMessage(issue: z.core.$ZodRawIssue<z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig>): string {
  const small = issue.code === "too_small";
  const limit = Number(small ? issue.minimum : issue.maximum);
  const inclusive = issue.inclusive !== false;
  switch (issue.origin) {
    case "string":
      return small && limit === 1
        ? "must not be empty"
        : `must be ${small ? "at least" : "at most"} ${limit} characters`;
    case "array":
    case "set":
      return small && limit === 1
        ? "must not be empty"
        : `must have ${small ? "at least" : "at most"} ${limit} item${limit === 1 ? "" : "s"}`;
    default:
      if (!inclusive) return `must be ${small ? "greater" : "less"} than ${limit}`;
      return `must be ${small ? "at least" : "at most"} ${limit}`;
  }
}

/**
 * The details of a failed validation: one per input (the first problem with it: a date that
 * is not a date is not also "before year 1"), unknown keys with the name probably meant.
 */
export function detailsOf(issues: readonly z.core.$ZodIssue[], input: unknown, schema: z.ZodType, source: InputSource) {
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  const add = (path: PropertyKey[], message: string) => {
    const where = locate(path, source);
    if (seen.has(where)) return;
    seen.add(where);
    details.push({ path: where, message });
  };
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) add([...issue.path, key], unknownKeyMessage(key, schema, source));
    } else if (issue.code === "invalid_key") {
      // A record key refused by its own schema (a denied header name): that schema says why.
      add(issue.path, issue.issues[0]?.message ?? issue.message);
    } else if (isMissing(input, issue.path)) {
      add(issue.path, "is required");
    } else {
      add(issue.path, issue.message);
    }
  }
  return details;
}

/** How a problem's place is shown: `jobs.2.url`, a query parameter by its name, or the input as a whole. */
function locate(path: PropertyKey[], source: InputSource): string {
  // A repeated query parameter (`status=a&status=b`) is still one parameter to the caller.
  if (path.length > 0) return source.in === "query" ? String(path[0]) : path.map(String).join(".");
  return source.in === "header" ? source.name : `(${source.in})`;
}

/** Whether the key at `path` is absent from an object that should have had it. */
function isMissing(input: unknown, path: PropertyKey[]): boolean {
  if (path.length === 0) return input === undefined;
  let parent: unknown = input;
  for (const key of path.slice(0, -1)) {
    if (parent === null || typeof parent !== "object") return false;
    parent = (parent as Record<PropertyKey, unknown>)[key];
  }
  return parent !== null && typeof parent === "object" && !Object.hasOwn(parent, path[path.length - 1]);
}

function unknownKeyMessage(key: string, schema: z.ZodType, source: InputSource): string {
  const what = source.in === "query" ? "is not a query parameter of this endpoint" : "is not a field of this request";
  const meant = closestName(key, knownKeysOf(schema));
  return meant ? `${what}; did you mean "${meant}"?` : what;
}

const knownKeys = new WeakMap<z.ZodType, Set<string>>();

/** Every key the schema names at any depth, read from its JSON Schema (computed once per schema). */
function knownKeysOf(schema: z.ZodType): Set<string> {
  let keys = knownKeys.get(schema);
  if (!keys) {
    keys = new Set();
    collectProperties(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }), keys);
    knownKeys.set(schema, keys);
  }
  return keys;
}

function collectProperties(node: unknown, keys: Set<string>): void {
  if (node === null || typeof node !== "object") return;
  const properties = (node as { properties?: Record<string, unknown> }).properties;
  if (properties) for (const key of Object.keys(properties)) keys.add(key);
  for (const child of Object.values(node)) collectProperties(child, keys);
}

/**
 * The known name a mistyped key most likely meant: its snake_case spelling (`scheduledAt` is
 * `scheduled_at`), or the known name at most two edits away.
 */
export function closestName(key: string, known: ReadonlySet<string>): string | undefined {
  const snake = key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/-/g, "_")
    .toLowerCase();
  if (known.has(snake)) return snake;
  let best: string | undefined;
  let bestDistance = Math.min(3, Math.ceil(snake.length / 2));
  for (const name of known) {
    const distance = editDistance(snake, name);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance between two short names. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
