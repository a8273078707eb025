/**
 * Fails on a link in README.md or docs/ that points nowhere (run in CI, `npm run check:links`): a
 * relative path that does not exist, or an `#anchor` that no heading of its target makes, as GitHub
 * renders them. External links are not fetched; the check needs no network.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrokenLink, brokenLinks } from "./markdown-links";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The Markdown files under a directory of the repository, as paths from its root. */
function markdownUnder(directory: string): string[] {
  return readdirSync(join(root, directory), { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".md"))
    .map((name) =>
      relative(root, join(root, directory, name))
        .split("\\")
        .join("/"),
    )
    .sort();
}

const repository = {
  exists: (path: string) => existsSync(join(root, path)),
  markdown: (path: string) =>
    path.endsWith(".md") && existsSync(join(root, path)) ? readFileSync(join(root, path), "utf8") : undefined,
};

const files = ["README.md", ...markdownUnder("docs")];
const broken: BrokenLink[] = files.flatMap((file) =>
  brokenLinks(file, readFileSync(join(root, file), "utf8"), repository),
);

if (broken.length > 0) {
  console.error(
    `Links that point nowhere:\n${broken.map((link) => `  ${link.file}:${link.line}: (${link.target}) ${link.problem}`).join("\n")}`,
  );
  process.exit(1);
}
console.log(`Every relative link and anchor in ${files.join(", ")} resolves`);
