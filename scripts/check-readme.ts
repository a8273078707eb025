/**
 * Holds the reference's tables to the code (run in CI, `npm run check:readme`): the fields of
 * `POST /jobs` and the parameters of `GET /jobs` (docs/api.md) and of `POST /schedules`
 * (docs/schedules.md) against the zod schemas the handlers validate with, the error table
 * (docs/api.md) against the error registry (src/wire/errors.ts), status included, and every
 * "N ms before its time" in README.md and docs/ against the engine's start lead. A field or code
 * added on one side only fails it.
 * `--print-errors` prints the error table as the registry has it, to paste into docs/api.md.
 */
import { readdirSync, readFileSync } from "node:fs";
import { z } from "zod";
import { CANCEL_CLOSES_BEFORE_MS } from "../src/jobs/timing";
import { ERROR_CODES, type ErrorCode } from "../src/wire/errors";
import { createJobRequest, listJobsQuery } from "../src/wire/jobs";
import { createScheduleRequest } from "../src/wire/schedules";

/** A file of the repository, by its path from the root. */
const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), "utf8");

/** A document's text under a heading, up to the next heading of any level. */
function section(document: { path: string; text: string }, heading: string): string {
  const lines = document.text.split("\n");
  const start = lines.findIndex((line) => line.startsWith(heading));
  if (start < 0) throw new Error(`${document.path} has no heading starting "${heading}"`);
  const end = lines.findIndex((line, i) => i > start && /^#{1,6} /.test(line));
  return lines.slice(start + 1, end < 0 ? undefined : end).join("\n");
}

/** The cells of a section's first table, header and separator left out. */
function tableRows(text: string): string[][] {
  const rows = text
    .split("\n")
    .filter((line) => line.startsWith("|"))
    .map((line) =>
      line
        .slice(1, -1)
        .split("|")
        .map((cell) => cell.trim()),
    );
  return rows.slice(2);
}

/** The `code`-quoted names in a piece of documentation. */
function quotedNames(text: string): string[] {
  return [...text.matchAll(/`([a-z_]+)`/g)].map((match) => match[1]);
}

/** The top-level keys a request schema accepts (read from its JSON Schema, so transforms and refinements do not hide them). */
function keysOf(schema: z.ZodType): string[] {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as { properties?: object };
  return Object.keys(json.properties ?? {});
}

const problems: string[] = [];

/** Records every name on one side only. */
function compare(what: string, documented: Iterable<string>, actual: Iterable<string>, verb = "accepted"): void {
  const inDocs = new Set(documented);
  const inCode = new Set(actual);
  for (const name of inCode) if (!inDocs.has(name)) problems.push(`${what}: \`${name}\` is ${verb} but not documented`);
  for (const name of inDocs) if (!inCode.has(name)) problems.push(`${what}: \`${name}\` is documented but not ${verb}`);
}

function errorTable(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, { status, when }]) => [String(status), `\`${code}\``, when]);
  const header = ["status", "code", "when"];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)].join("\n");
}

if (process.argv.includes("--print-errors")) {
  console.log(errorTable());
  process.exit(0);
}

const api = { path: "docs/api.md", text: read("docs/api.md") };
const schedulesDoc = { path: "docs/schedules.md", text: read("docs/schedules.md") };

const jobFieldsDocumented = tableRows(section(api, "## `POST /jobs`:")).flatMap((row) => quotedNames(row[0]));
compare("POST /jobs", jobFieldsDocumented, keysOf(createJobRequest));

// The schedule section lists the request fields it shares with POST /jobs in a sentence, then a table of its own.
const schedules = section(schedulesDoc, "## `POST /schedules`");
const sharedSentence = schedules
  .split("\n\n")
  .find((paragraph) => paragraph.trim().startsWith("The request fields are"));
compare(
  "POST /schedules",
  [...quotedNames(sharedSentence ?? ""), ...tableRows(schedules).flatMap((row) => quotedNames(row[0]))],
  keysOf(createScheduleRequest),
);

const listDocumented = tableRows(section(api, "## `GET /jobs`:")).flatMap((row) => quotedNames(row[0]));
compare("GET /jobs parameters", listDocumented, keysOf(listJobsQuery));

const errorRows = tableRows(section(api, "## Errors"));
compare(
  "error codes",
  errorRows.flatMap((row) => quotedNames(row[1])),
  Object.keys(ERROR_CODES),
  "answered",
);
for (const [status, cell] of errorRows) {
  const [code] = quotedNames(cell);
  const registered = ERROR_CODES[code as ErrorCode];
  if (registered && String(registered.status) !== status) {
    problems.push(`error codes: \`${code}\` is answered with ${registered.status}, docs/api.md says ${status}`);
  }
}

// How long before its time a job starts (and can no longer be canceled or changed), wherever the docs say it.
const documents = [
  "README.md",
  ...readdirSync(new URL("../docs", import.meta.url))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];
for (const path of documents) {
  for (const [said, ms] of read(path).matchAll(/(\d[\d,]*)\s+ms\s+before\s+(?:its|their)\s+time/g)) {
    if (Number(ms.replace(/,/g, "")) !== CANCEL_CLOSES_BEFORE_MS) {
      const quoted = said.replace(/\s+/g, " ");
      problems.push(
        `start lead: ${path} says "${quoted}", the engine starts jobs ${CANCEL_CLOSES_BEFORE_MS} ms before their time`,
      );
    }
  }
}

if (problems.length > 0) {
  console.error(`The reference's tables disagree with the code:\n  ${problems.join("\n  ")}`);
  console.error("Fix docs/ (for the errors, `npm run check:readme -- --print-errors` prints the table).");
  process.exit(1);
}
console.log("The reference's tables (docs/api.md, docs/schedules.md) match the schemas and the error registry");
