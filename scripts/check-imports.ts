/**
 * The import rules of src/, run by `npm run lint` (and so by CI):
 * - No import cycle. Every import that stays in the built Worker is an edge; a type-only import
 *   (`import type`, or every name marked `type`) is left out, since it is erased before anything
 *   runs and cannot decide what loads first (settings.ts names the TickWatchdog class's type for
 *   its binding, and the watchdog reads the settings). Each strongly connected component is
 *   reported with one cycle through it.
 * - No arrow running back up: each folder (or top-level file) of src/ imports only the folders
 *   LAYERS allows it, type-only imports included. A new folder must be given its line.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

/** What each part of src/ may import besides itself; the README's Contributing section says the same in words. */
const LAYERS: Record<string, readonly string[]> = {
  jobs: [],
  auth: [],
  client: [],
  wire: ["jobs"],
  db: ["auth", "jobs"],
  "settings.ts": ["db", "dispatch"],
  dispatch: ["auth", "db", "jobs", "settings.ts"],
  actions: ["auth", "db", "dispatch", "jobs", "settings.ts", "wire"],
  http: ["actions", "db", "settings.ts", "wire"],
  api: ["actions", "auth", "db", "http", "jobs", "settings.ts", "wire"],
  dashboard: ["actions", "auth", "db", "http", "jobs", "wire"],
  "app.ts": ["api", "dashboard", "http", "wire"],
  "index.ts": ["app.ts", "db", "dispatch", "settings.ts"],
};

const root = resolve(import.meta.dirname, "..");
const srcDir = join(root, "src");
const EXTENSIONS = [".ts", ".tsx"];

/** Every TypeScript source file under `dir`, generated output (the client's dist/) left out. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "dist" || name === "node_modules" ? [] : sourceFiles(path);
    return EXTENSIONS.some((ext) => name.endsWith(ext)) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** The file a relative specifier names, as the bundler resolves it, or undefined (a package). */
function resolveImport(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const base = resolve(dirname(from), specifier);
  const stem = base.replace(/\.(js|jsx|ts|tsx)$/, "");
  const candidates = [
    base,
    ...EXTENSIONS.map((ext) => stem + ext),
    ...EXTENSIONS.map((ext) => join(base, `index${ext}`)),
  ];
  return candidates.find((path) => existsSync(path) && statSync(path).isFile());
}

interface Import {
  target: string;
  typeOnly: boolean;
}

/** A file's imports and re-exports of other files under src/, each marked when only types cross it. */
function importsOf(file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false);
  const found: Import[] = [];
  for (const statement of source.statements) {
    let specifier: ts.Expression | undefined;
    let typeOnly = false;
    if (ts.isImportDeclaration(statement)) {
      specifier = statement.moduleSpecifier;
      const clause = statement.importClause;
      const named = clause?.namedBindings;
      typeOnly =
        !!clause &&
        (clause.isTypeOnly ||
          (!clause.name &&
            !!named &&
            ts.isNamedImports(named) &&
            named.elements.length > 0 &&
            named.elements.every((element) => element.isTypeOnly)));
    } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier) {
      specifier = statement.moduleSpecifier;
      typeOnly = statement.isTypeOnly;
    }
    if (!specifier || !ts.isStringLiteral(specifier)) continue;
    const target = resolveImport(file, specifier.text);
    if (target?.startsWith(srcDir)) found.push({ target, typeOnly });
  }
  return found;
}

const files = sourceFiles(srcDir);
const imports = new Map(files.map((file) => [file, importsOf(file)]));
const name = (file: string) => relative(root, file);
let failed = false;

// Layers.
const partOf = (file: string) => relative(srcDir, file).split("/")[0];
const wrongWay: string[] = [];
for (const [file, found] of imports) {
  const part = partOf(file);
  const allowed = LAYERS[part];
  if (!allowed) {
    wrongWay.push(`${name(file)}: src/${part} has no line in LAYERS (scripts/check-imports.ts)`);
    continue;
  }
  for (const { target } of found) {
    const targetPart = partOf(target);
    if (targetPart !== part && !allowed.includes(targetPart)) wrongWay.push(`${name(file)} → ${name(target)}`);
  }
}
if (wrongWay.length > 0) {
  failed = true;
  console.error(
    `Imports against the layers of src/ (see LAYERS in scripts/check-imports.ts):\n  ${wrongWay.join("\n  ")}`,
  );
}

// Cycles: Tarjan's strongly connected components over the runtime imports.
const edges = new Map(
  [...imports].map(([file, found]) => [file, [...new Set(found.filter((i) => !i.typeOnly).map((i) => i.target))]]),
);
let counter = 0;
const index = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
const components: string[][] = [];
function visit(file: string) {
  index.set(file, counter);
  low.set(file, counter);
  counter++;
  stack.push(file);
  onStack.add(file);
  for (const next of edges.get(file) ?? []) {
    if (!index.has(next)) {
      visit(next);
      low.set(file, Math.min(low.get(file) as number, low.get(next) as number));
    } else if (onStack.has(next)) {
      low.set(file, Math.min(low.get(file) as number, index.get(next) as number));
    }
  }
  if (low.get(file) !== index.get(file)) return;
  const component: string[] = [];
  let member: string;
  do {
    member = stack.pop() as string;
    onStack.delete(member);
    component.push(member);
  } while (member !== file);
  if (component.length > 1 || edges.get(file)?.includes(file)) components.push(component.sort());
}
for (const file of files) if (!index.has(file)) visit(file);

/** One cycle through the component's first file: a shortest path back to it inside the component. */
function cycleThrough(component: string[]): string[] {
  const members = new Set(component);
  const [start] = component;
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift() as string;
    for (const next of edges.get(file) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [file];
        while (path[0] !== start) path.unshift(previous.get(path[0]) as string);
        return [...path, start];
      }
      if (!previous.has(next)) {
        previous.set(next, file);
        queue.push(next);
      }
    }
  }
  return [start];
}

if (components.length > 0) {
  failed = true;
  console.error(`Import cycles under src/ (${components.length}), each with one cycle through it:`);
  for (const component of components) {
    console.error(`  ${cycleThrough(component).map(name).join(" → ")}`);
    if (component.length > 2) console.error(`    (caught in it: ${component.map(name).join(", ")})`);
  }
}

if (failed) process.exitCode = 1;
else console.log(`Imports of ${files.length} files under src/: no cycle, none against the layers.`);
