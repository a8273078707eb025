/**
 * The fuzz suite's generators (fast-check arbitraries): hostile strings and values, broken values
 * for each job field, valid and near-valid job requests, raw bodies, request headers, and ids and
 * paths for the job routes. Valid bodies point at the local receiver, far in the future.
 */
import fc from "fast-check";
import { JOB_STATUSES } from "../../src/jobs/states";
import {
  B,
  type Body,
  C,
  type CREATE_FIELDS,
  DEADLINE_ISO,
  FUTURE_ISO,
  fixtureRows,
  fixtures,
  RECEIVER_OK,
  rep,
  SAFE_TIMEOUT_MS,
  SERVER_FIELDS,
} from "./harness";

// Generators.
// ---------------------------------------------------------------------------------------------

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));
export const nastyChar = fc.oneof(
  fc.constantFrom(
    "\u0000",
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\u0007",
    "\u007f",
    "\u0085",
    "\u00a0",
    "\u2028",
    "\u202e",
    "\ufeff",
    "\uffff",
    "é",
    "ß",
    "İ",
    "😀",
    "%",
    "%00",
    "\\",
    '"',
    "'",
    "/",
    ":",
    "?",
    "#",
  ),
  loneSurrogate,
  fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }),
);
/** Text Postgres refuses (NUL) or cannot store as sent (an unpaired surrogate), inside ordinary text. */
export const storageHostile = fc
  .tuple(
    fc.string({ maxLength: 6 }),
    fc.constantFrom("\u0000", "\ud800", "\udfff", "\u0000\ud83d"),
    fc.string({ maxLength: 6 }),
  )
  .map(([before, hostile, after]) => before + hostile + after);
export const nastyString = fc.oneof(
  { weight: 3, arbitrary: storageHostile },
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  { weight: 3, arbitrary: fc.string({ unit: nastyChar, maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 24 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "",
      " ",
      "null",
      "undefined",
      "true",
      "NaN",
      "Infinity",
      "-Infinity",
      "1e400",
      "-0",
      "0x1F",
      "[]",
      "{}",
      "' OR '1'='1",
      "'; DROP TABLE jobs; --",
      "$1",
      `$${"{"}7*7}`,
      "{{7*7}}",
      "<script>alert(1)</script>",
      "../../etc/passwd",
      "\u0000",
      "a\u0000b",
      "\ud800",
      "\udfff\ud800",
    ),
  },
);
const longString = fc.constantFrom(rep("a", 2_049), rep("é", 8_193), rep("x", 65_537));

export const anyJson = fc.jsonValue({ maxDepth: 3 });
export const odd = fc.constantFrom<unknown>(
  null,
  true,
  false,
  0,
  -0,
  -1,
  0.5,
  1.5,
  -1.5,
  1e21,
  1e308,
  -1e308,
  5e-324,
  2 ** 31,
  2 ** 31 - 1,
  -(2 ** 31) - 1,
  2 ** 53,
  Number.MAX_SAFE_INTEGER + 2,
  [],
  {},
  [null],
  [[]],
  { "": null },
  { $gt: "" },
  ["a", "b"],
  { url: null },
);
/** Any value where a field is expected. */
export const junk = fc.oneof(
  { weight: 3, arbitrary: anyJson },
  { weight: 3, arbitrary: nastyString },
  { weight: 3, arbitrary: odd },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.bigInt().map(String) },
  { weight: 1, arbitrary: longString },
);
/**
 * Any generated value as the text of a query parameter. String() throws for some of what
 * `junk` makes (an object without a prototype), which would fail the generator, not the API.
 */
export function asQueryText(value: unknown): string {
  try {
    return String(value);
  } catch {
    try {
      return JSON.stringify(value) ?? "";
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
}

export const numberJunk = fc.oneof(
  junk,
  fc.integer({ min: -1_000_000, max: 10_000_000 }),
  fc.double({ min: -1e6, max: 1e7 }),
  fc.integer().map(String),
);

const urlJunk = fc.oneof(
  junk,
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.constantFrom<unknown>(
    "javascript:alert(1)",
    "file:///etc/passwd",
    "ftp://example.com/file",
    "data:text/plain,hi",
    "mailto:a@example.com",
    "http://",
    "https://",
    "http:///path",
    "//example.com/x",
    "example.com/x",
    "/relative",
    "http://exa mple.com/",
    "http://[::1",
    "http://[::1]:99999/",
    "http://127.0.0.1:0/",
    "http://user:pass@example.com/",
    "HTTP://EXAMPLE.COM/X",
    "https://example.com/\u0000",
    "https://example.com/a\r\nX-Injected: 1",
    "https://exämple.com/é",
    "https://example.com/\ud800",
    "https://xn--/",
    "https://%00/",
    "https://example.com:65536/",
    rep("a", 2_030, "https://example.com/"),
    rep("a", 2_029, "https://example.com/"),
  ),
  fc.tuple(fc.constantFrom("http://", "https://", "gopher://", "HTTPS://"), nastyString).map(([s, rest]) => s + rest),
  // Valid URLs on the receiver with odd characters in the path or query.
  fc
    .tuple(fc.constantFrom(`${RECEIVER_OK}/`, `${RECEIVER_OK}?q=`, `${RECEIVER_OK}#`), nastyString)
    .map(([s, rest]) => s + rest),
);

export const dateJunk = fc.oneof(
  junk,
  // Valid ISO 8601 that is year 0 in UTC, which Postgres refuses.
  fc.constantFrom("0000-01-01T00:00:00Z", "0000-12-31T23:59:59.999-01:00", "0001-01-01T00:00:00+00:01"),
  fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
  fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 25 }),
      fc.integer({ min: 0, max: 61 }),
      fc.constantFrom("Z", "z", "+00:00", "-23:59", "+24:00", "+05:30", "", "+0530", "Z "),
    )
    .map(
      ([y, mo, d, h, mi, tz]) =>
        `${String(y).padStart(4, "0")}-${String(mo).padStart(2, "0")}-${String(d).padStart(2, "0")}T${String(h).padStart(2, "0")}:${String(mi).padStart(2, "0")}:00${tz}`,
    ),
  fc.constantFrom<unknown>(
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z",
    "1970-01-01T00:00:00Z",
    "2027-02-29T00:00:00Z",
    "2027-13-01T00:00:00Z",
    "2027-01-01T24:00:00Z",
    "2027-01-01T00:00:60Z",
    "2027-01-01T00:00:00",
    "2027-01-01",
    "2027-01-01 00:00:00Z",
    "2027-01-01T00:00:00.123456789Z",
    "+275760-09-13T00:00:00.000Z",
    "-271821-04-20T00:00:00.000Z",
    "9999-12-31T23:59:59Z",
    "tomorrow",
    "now",
    "1700000000",
    1700000000,
  ),
);

const durationJunk = fc.oneof(
  junk,
  fc.stringMatching(/^(\d{1,22}d)?(\d{1,22}h)?(\d{1,22}m)?(\d{1,22}s)?$/),
  fc.double(),
  fc.constantFrom<unknown>(
    "0",
    "0s",
    "30s",
    "1h30m",
    "2d",
    "367d",
    "99999999999999999999d",
    "9007199254740993s",
    "1e3",
    "-5s",
    "5.5s",
    " 5s ",
    "5S",
    "1h 30m",
    "PT5M",
    "d",
    "",
    1e300,
    1e15,
    -1,
    31_622_400,
    Number.MAX_VALUE,
  ),
);

export const headerName = fc.oneof(
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/),
  fc.string({ unit: "binary", maxLength: 10 }),
  fc.string({ unit: nastyChar, maxLength: 6 }),
  fc.constantFrom(
    "",
    "X A",
    "X:A",
    "X\r\nY",
    "Host",
    "Content-Length",
    "Transfer-Encoding",
    "Authorization",
    "Webhook-Id",
    "webhook-signature",
    "Fliq-Attempt",
    "FLIQ-X",
    "__proto__",
    "constructor",
    "toString",
    "Ü",
    "X-\u0000",
  ),
);
export const headerValue = fc.oneof(
  fc.string({ unit: "grapheme-ascii", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.string({ unit: "binary-ascii", maxLength: 20 }),
  fc.string({ unit: nastyChar, maxLength: 8 }),
  fc.constantFrom<unknown>(
    "a\r\nX-Injected: 1",
    "a\nb",
    "a\rb",
    "\u0000",
    "é",
    "😀",
    "\u2028",
    "\t",
    " leading",
    "trailing ",
    rep("a", 8_192),
    rep("a", 8_193),
  ),
  junk,
);
export const jobHeaders = fc.oneof(
  { weight: 6, arbitrary: fc.dictionary(headerName, headerValue, { maxKeys: 5 }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(50, 51)
      .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`X-H${i}`, "v"]))),
  },
  { weight: 2, arbitrary: junk },
);
const labelKey = fc.oneof(nastyString, fc.constantFrom("", "__proto__", "constructor", "a".repeat(64), "a".repeat(65)));
export const labelsJunk = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(labelKey, fc.oneof(nastyString, junk), { maxKeys: 4 }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(20, 21)
      .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]))),
  },
  { weight: 1, arbitrary: fc.constant({ k: rep("v", 257) }) },
  { weight: 2, arbitrary: junk },
);
const methodJunk = fc.oneof(
  junk,
  fc.string({ maxLength: 8 }),
  fc.constantFrom("get", "Post", "GET ", " POST", "G\u0000ET", "CONNECT", "TRACE", "poﬆ", "ıput", "*", "POST\r\n"),
);
const bodyJunk = fc.oneof(
  junk,
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: nastyChar, maxLength: 12 }),
  fc.constantFrom(rep("a", 1024 * 1024), rep("a", 1024 * 1024 + 1), rep("é", 524_289)),
);
const backoffJunk = fc.oneof(
  junk,
  fc.record({ initial_delay_ms: numberJunk, max_delay_ms: numberJunk }, { requiredKeys: [] }),
  fc.record({ initial_delay_ms: numberJunk, max_delay_ms: numberJunk, extra: junk }, { requiredKeys: [] }),
);

/** For each field, the broken values worth trying. */
const fieldJunk: Record<(typeof CREATE_FIELDS)[number], fc.Arbitrary<unknown>> = {
  url: urlJunk,
  http_method: methodJunk,
  scheduled_at: dateJunk,
  delay: durationJunk,
  headers: jobHeaders,
  body: bodyJunk,
  max_retries: numberJunk,
  timeout_ms: numberJunk,
  retry_backoff: backoffJunk,
  labels: labelsJunk,
  failure_url: fc.oneof(urlJunk, fc.constant(null)),
  success_url: fc.oneof(urlJunk, fc.constant(null)),
  expires_at: fc.oneof(dateJunk, fc.constant(null)),
  max_retry_duration: fc.oneof(durationJunk, fc.constant(null)),
};

const validHeaders = fc.dictionary(
  fc.stringMatching(/^X-[A-Za-z0-9]{1,8}$/),
  fc.string({ unit: "grapheme-ascii", maxLength: 12 }),
  { maxKeys: 3 },
);
export const validLabels = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 8 }),
  fc.string({ unit: "grapheme-ascii", maxLength: 12 }),
  { maxKeys: 3 },
);

/** A create request the API accepts (url on the receiver, far in the future). */
export const validCreate = fc.record(
  {
    url: fc.constant(RECEIVER_OK),
    http_method: fc.constantFrom("POST", "PUT", "PATCH", "DELETE", "OPTIONS", "post"),
    scheduled_at: fc.constant(FUTURE_ISO),
    headers: validHeaders,
    body: fc.option(fc.string({ maxLength: 40 }), { nil: null }),
    max_retries: fc.integer({ min: 0, max: 20 }),
    timeout_ms: fc.constant(SAFE_TIMEOUT_MS),
    retry_backoff: fc.constant({ initial_delay_ms: 1_000, max_delay_ms: 60_000 }),
    labels: validLabels,
    failure_url: fc.constantFrom(null, RECEIVER_OK),
    success_url: fc.constantFrom(null, RECEIVER_OK),
    expires_at: fc.constantFrom(null, DEADLINE_ISO),
    max_retry_duration: fc.constantFrom(null, 60, "1h"),
  },
  { requiredKeys: ["url", "scheduled_at", "timeout_ms"] },
);

/** A change the API accepts on a scheduled job (url on the receiver, far in the future). */
export const validChange = fc.record(
  {
    url: fc.constant(RECEIVER_OK),
    http_method: fc.constantFrom("POST", "PUT", "DELETE", "put"),
    scheduled_at: fc.constant(FUTURE_ISO),
    headers: validHeaders,
    body: fc.option(fc.string({ maxLength: 40 }), { nil: null }),
    max_retries: fc.integer({ min: 0, max: 20 }),
    timeout_ms: fc.constant(SAFE_TIMEOUT_MS),
    retry_backoff: fc.constantFrom({ initial_delay_ms: 1_000 }, { max_delay_ms: 60_000 }, {}),
    labels: validLabels,
    failure_url: fc.constantFrom(null, RECEIVER_OK),
    success_url: fc.constantFrom(null, RECEIVER_OK),
    expires_at: fc.constantFrom(null, DEADLINE_ISO),
    max_retry_duration: fc.constantFrom(null, 60, "1h"),
  },
  { requiredKeys: [] },
);

/** A valid request with exactly one field broken (a nested one for retry_backoff, sometimes). */
export function withOneFieldBroken(
  valid: fc.Arbitrary<Record<string, unknown>>,
  fields: readonly (typeof CREATE_FIELDS)[number][],
): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(valid, fc.constantFrom(...fields))
    .chain(([base, field]) => fc.tuple(fc.constant(base), fc.constant(field), fieldJunk[field], fc.boolean()))
    .map(([base, field, value, keepSchedule]) => {
      const broken: Record<string, unknown> = { ...base, [field]: value };
      // A delay with scheduled_at is refused whatever it is; usually send the delay alone.
      if (field === "delay" && !keepSchedule) delete broken.scheduled_at;
      return broken;
    });
}

/** Server-owned fields, with values that would matter if they were taken. */
function serverFieldValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom<unknown>(
      fixtures.aScheduled.id,
      fixtures.bScheduled.id,
      B.id,
      C.id,
      ...JOB_STATUSES,
      99,
      -1,
      0,
      "2000-01-01T00:00:00.000Z",
      FUTURE_ISO,
      "msg_00000000000000000000000000000000",
      null,
      { status: "succeeded" },
    ),
    fc.uuid(),
    anyJson,
  );
}
export function withServerFields(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Body> {
  const member = fc.oneof(
    fc
      .tuple(fc.constantFrom(...SERVER_FIELDS), serverFieldValue())
      .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`),
    fc.constantFrom(
      '"__proto__":{"status":"succeeded","attempt":7,"projectId":"00000000-0000-0000-0000-000000000000"}',
      '"__proto__":{"polluted":true}',
      '"constructor":{"prototype":{"polluted":true}}',
      '"retry_backoff":{"initial_delay_ms":1000,"__proto__":{"x":1}}',
    ),
  );
  return fc
    .tuple(valid, fc.array(member, { minLength: 1, maxLength: 3 }))
    .map(([json, members]) => ({ json, members }));
}

/** Bodies that are not JSON, or barely. */
export const rawBody: fc.Arbitrary<Body> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 60 }).map((raw) => ({ raw })),
  fc.string({ maxLength: 60 }).map((raw) => ({ raw })),
  fc.constantFrom<Body>(
    { raw: "" },
    { raw: " " },
    { raw: "{" },
    { raw: "}" },
    { raw: "[" },
    { raw: '{"url":' },
    { raw: '{"url": "https://example.com",}' },
    { raw: "{'url': 'https://example.com'}" },
    { raw: '{"url": NaN}' },
    { raw: '{"max_retries": 1e999}' },
    { raw: '{"timeout_ms": -0}' },
    { raw: '{"url": "a" /* comment */}' },
    { raw: '\uFEFF{"url": 1}' },
    { raw: '{"url": "https://example.com"}garbage' },
    { raw: '{"url": 1, "url": "also"}' },
    { raw: "url=https://example.com&delay=5" },
    { raw: "null" },
    { raw: "undefined" },
    { raw: '"just a string"' },
    { raw: "\u0000" },
    { raw: rep("[", 100_000) },
    { raw: rep('{"a":', 10_000) },
    { raw: rep("a", 8 * 1024 * 1024 + 1, '{"body":"') },
  ),
  validCreate.chain((json) =>
    fc.nat({ max: 200 }).map((cut) => ({ raw: JSON.stringify(json).slice(0, Math.max(1, cut)) })),
  ),
);

export const contentType = fc.option(
  fc.oneof(
    fc.constantFrom(
      "application/json",
      "application/json; charset=utf-8",
      "application/json; charset=latin1",
      "APPLICATION/JSON",
      "text/plain",
      "text/html",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/octet-stream",
      "",
      "*/*",
      "application/json\u00e9",
    ),
    fc.string({ maxLength: 30 }),
  ),
  { nil: undefined },
);
/** The header, one request in four. */
export const maybeHeader = (name: string, value: fc.Arbitrary<string>): fc.Arbitrary<Record<string, string>> =>
  fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: value.map((v) => ({ [name]: v })) });

export const requestHeaders = (extra: Array<fc.Arbitrary<Record<string, string>>> = []) =>
  fc
    .tuple(contentType, ...extra)
    .map(([type, ...rest]) => Object.assign(type === undefined ? {} : { "content-type": type }, ...rest));

export const idempotencyKey = maybeHeader(
  "idempotency-key",
  fc.oneof(
    fc.string({ unit: "binary", maxLength: 20 }),
    fc.constantFrom("fuzz-key-1", "fuzz-key-2", "a".repeat(255), "a".repeat(256), " spaced ", "é", "\t"),
  ),
);

/** Every body POST /jobs or PATCH might get. */
export function jobBodies(
  valid: fc.Arbitrary<Record<string, unknown>>,
  fields: readonly (typeof CREATE_FIELDS)[number][],
) {
  return fc.oneof(
    { weight: 2, arbitrary: anyJson.map((json): Body => ({ json })) },
    { weight: 1, arbitrary: junk.map((json): Body => ({ json })) },
    { weight: 2, arbitrary: rawBody },
    { weight: 6, arbitrary: withOneFieldBroken(valid, fields).map((json): Body => ({ json })) },
    { weight: 1, arbitrary: withServerFields(valid) },
    { weight: 1, arbitrary: valid.map((json): Body => ({ json })) },
  );
}

/** Ids for the path: the fixtures' (and variants), random UUIDs, and anything but a UUID. */
export function jobIds(): fc.Arbitrary<string> {
  const known = fc.constantFrom(...fixtureRows.map((row) => row.id));
  return fc.oneof(
    { weight: 3, arbitrary: known },
    {
      weight: 3,
      arbitrary: fc
        .tuple(known, fc.integer({ min: 0, max: 11 }))
        .map(
          ([id, how]) =>
            [
              id.toUpperCase(),
              `{${id}}`,
              id.replace(/-/g, ""),
              `${id}x`,
              ` ${id}`,
              `${id} `,
              id.slice(0, 35),
              `${id}/`,
              `${id}' OR '1'='1`,
              `${id};DELETE FROM jobs`,
              `urn:uuid:${id}`,
              `${id}\u0000`,
            ][how],
        ),
    },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: nastyString },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "",
        ".",
        "..",
        "../..",
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "%2e%2e%2f",
        "%00",
        "%",
        "%zz",
        "%%",
        "%u0000",
        "' OR 1=1 --",
        "1; DROP TABLE jobs; --",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "null",
        "-1",
        "0",
        "1e400",
        "__proto__",
        "constructor",
        "batch",
        "cancel",
        "replay",
        "?status=scheduled",
        "#frag",
        "a".repeat(5_000),
        "\u202e",
        "\ud800",
        "😀",
      ),
    },
  );
}

/** How an id is put in the path: as is (the URL parser decides), or percent-encoded once or twice. */
export const encodings = fc.constantFrom("raw", "encoded", "twice");
export function pathSegment(id: string, how: string): string {
  if (how === "raw") return id;
  const encoded = encodeURIComponentLoose(id);
  return how === "encoded" ? encoded : encodeURIComponentLoose(encoded);
}
/** encodeURIComponent, but a lone surrogate is encoded as U+FFFD instead of throwing. */
export function encodeURIComponentLoose(text: string): string {
  return encodeURIComponent(text.toWellFormed());
}

export const unknownMethod = fc.oneof(
  fc.constantFrom("PUT", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "get", "patch", "delete"),
  fc.stringMatching(/^[A-Za-z]{1,10}$/),
);

/** base64url of the UTF-8 bytes of `text`, as list cursors are written. */
export function base64url(text: string): string {
  const binary = String.fromCharCode(...new TextEncoder().encode(text));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** decodeURIComponent, or the text as it is when it is not valid percent-encoding. */
export function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
