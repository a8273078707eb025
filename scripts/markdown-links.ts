/**
 * The links of Markdown documents and the anchors their headings make, as GitHub renders them,
 * and which links point nowhere. Pure (text in, problems out), so the link check
 * (scripts/check-links.ts) reads the files and test/markdown-links.test.ts runs it without any.
 */

/** A link as written in a document: its target and the line it is on (1-based). */
export interface MarkdownLink {
  target: string;
  line: number;
}

/** A link that points nowhere: where it is, what it says, and why it fails. */
export interface BrokenLink {
  file: string;
  line: number;
  target: string;
  problem: string;
}

/** How the check sees the repository: whether a path exists, and a Markdown file's text. */
export interface Repository {
  exists(path: string): boolean;
  /** The text of a Markdown file, or undefined when there is none at that path. */
  markdown(path: string): string | undefined;
}

/** The lines outside fenced code blocks, each with its 1-based number. */
function proseLines(text: string): Array<{ text: string; line: number }> {
  const lines: Array<{ text: string; line: number }> = [];
  let fence: string | undefined;
  text.split("\n").forEach((line, i) => {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      return;
    }
    if (marker) {
      fence = marker;
      return;
    }
    lines.push({ text: line, line: i + 1 });
  });
  return lines;
}

/** A line with its inline code spans replaced by spaces, so a link shown as code is not taken for one. */
function withoutCodeSpans(line: string): string {
  return line.replace(/(`+)[\s\S]*?\1/g, (span) => " ".repeat(span.length));
}

/**
 * The anchor GitHub gives a heading: its rendered text in lower case, with everything but letters,
 * digits, marks, connector punctuation, spaces and hyphens dropped, and each space made a hyphen.
 */
export function headingSlug(heading: string): string {
  const rendered = heading
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, "$1") // an image: its alt text
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1") // a link: its text
    .replace(/<[^>]+>/g, "") // HTML tags
    .replace(/`/g, "")
    .replace(/\*+/g, "")
    .trim();
  return rendered
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor a document offers: its headings' slugs (the nth repeat gets `-n`) and explicit HTML ids and names. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text: line } of proseLines(text)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const slug = headingSlug(heading);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    for (const match of withoutCodeSpans(line).matchAll(/<[a-z][^>]*\s(?:id|name)="([^"]+)"/gi)) anchors.add(match[1]);
  }
  return anchors;
}

/** Every link and image of a document: inline, reference definitions, and HTML `href` and `src`. */
export function linksOf(text: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  for (const { text: raw, line } of proseLines(text)) {
    const prose = withoutCodeSpans(raw);
    // [text](target "title") and ![alt](target), the target possibly in <angle brackets>.
    for (const match of prose.matchAll(/!?\[[^\]]*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ target: match[1].replace(/^<|>$/g, ""), line });
    }
    const definition = /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(prose);
    if (definition) links.push({ target: definition[1].replace(/^<|>$/g, ""), line });
    for (const match of prose.matchAll(/<[a-z][^>]*\s(?:href|src)="([^"]*)"/gi)) links.push({ target: match[1], line });
  }
  return links;
}

/** The directory part of a repository path ("" at the root). */
function directoryOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

/** A relative target resolved against a directory, as a path from the repository root; undefined above the root. */
function resolve(directory: string, target: string): string | undefined {
  const parts = target.startsWith("/") ? [] : directory.split("/").filter(Boolean);
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts.join("/");
}

/**
 * The links of `file` (a path from the repository root) that point nowhere: a relative path that
 * does not exist, or an `#anchor` that no heading or HTML id of its Markdown target makes. Links
 * with a scheme (https:, mailto:) are not followed; an anchor into a file that is not Markdown is
 * not checked.
 */
export function brokenLinks(file: string, text: string, repository: Repository): BrokenLink[] {
  const broken: BrokenLink[] = [];
  for (const { target, line } of linksOf(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) continue;
    const hash = target.indexOf("#");
    const pathPart = hash < 0 ? target : target.slice(0, hash);
    const anchor = hash < 0 ? undefined : target.slice(hash + 1);
    const report = (problem: string) => broken.push({ file, line, target, problem });

    let path = file;
    if (pathPart !== "") {
      let decoded: string;
      try {
        decoded = decodeURIComponent(pathPart.split("?")[0]);
      } catch {
        report("is not valid percent-encoding");
        continue;
      }
      const resolved = resolve(directoryOf(file), decoded);
      if (resolved === undefined) {
        report("leads out of the repository");
        continue;
      }
      if (!repository.exists(resolved)) {
        report(`${resolved} does not exist`);
        continue;
      }
      path = resolved;
    }
    if (anchor === undefined || !path.endsWith(".md")) continue;
    const targetText = path === file ? text : repository.markdown(path);
    if (targetText === undefined) continue;
    let wanted: string;
    try {
      wanted = decodeURIComponent(anchor);
    } catch {
      wanted = anchor;
    }
    // A bare `#` is the top of the page.
    if (wanted !== "" && !anchorsOf(targetText).has(wanted)) report(`no heading or id in ${path} makes #${wanted}`);
  }
  return broken;
}
