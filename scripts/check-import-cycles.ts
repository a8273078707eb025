/**
 * Fails on any import cycle under src/: every relative import (type-only ones included, since a
 * cycle of types is still two modules that cannot be read or moved apart) is an edge of the
 * graph, and each strongly connected component of more than one file, or a file importing
 * itself, is reported with one cycle through it. Run by `npm run lint`, and so by CI.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve(import.meta.dirname, "..");
const srcDir = join(root, "src");
const EXTENSIONS = [".ts", ".tsx"];

/** Every TypeScript source file under `dir`, generated output (client's dist/) left out. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "dist" || name === "node_modules" ? [] : sourceFiles(path);
    return EXTENSIONS.some((ext) => name.endsWith(ext)) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** The file a relative specifier names, as TypeScript's bundler resolution finds it, or undefined. */
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

const files = sourceFiles(srcDir);
const edges = new Map<string, string[]>(
  files.map((file) => {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const targets = importedFiles.flatMap(({ fileName }) => resolveImport(file, fileName) ?? []);
    return [file, [...new Set(targets)]];
  }),
);

// Tarjan's strongly connected components.
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
  if (low.get(file) === index.get(file)) {
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop() as string;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || edges.get(file)?.includes(file)) components.push(component);
  }
}
for (const file of files) if (!index.has(file)) visit(file);

/** One cycle through the component's first file: a shortest path back to it inside the component. */
function cycleThrough(component: string[]): string[] {
  const members = new Set(component);
  const [start] = component.sort();
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

const name = (file: string) => relative(root, file);
if (components.length === 0) {
  console.log(`No import cycles among ${files.length} files under src/.`);
} else {
  console.error(
    `Import cycles under src/ (${components.length}); each line is one cycle, each group the files caught in it:`,
  );
  for (const component of components) {
    console.error(`\n  ${cycleThrough(component).map(name).join(" → ")}`);
    if (component.length > 2) console.error(`  (all of: ${component.map(name).sort().join(", ")})`);
  }
  process.exitCode = 1;
}
