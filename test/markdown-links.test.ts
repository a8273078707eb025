/**
 * The link check's reading of Markdown (scripts/markdown-links.ts): GitHub's heading anchors, the links
 * it finds and skips, and the links it reports as pointing nowhere.
 */
import { describe, expect, it } from "vitest";
import { anchorsOf, brokenLinks, headingSlug, linksOf, type Repository } from "../scripts/markdown-links";

/** A repository of a few files, the Markdown ones with their text. */
function repository(files: Record<string, string>): Repository {
  return {
    exists: (path) => Object.keys(files).some((file) => file === path || file.startsWith(`${path}/`)),
    markdown: (path) => files[path],
  };
}

describe("headingSlug", () => {
  it("makes GitHub's anchors: code and punctuation dropped, spaces made hyphens, case lowered", () => {
    expect(headingSlug("`POST /jobs`: schedule a callback")).toBe("post-jobs-schedule-a-callback");
    expect(headingSlug("`POST /jobs/:id/run` and `POST /jobs/:id/replay`")).toBe(
      "post-jobsidrun-and-post-jobsidreplay",
    );
    expect(headingSlug("Creating with a full project (`--scenario create-waiting`)")).toBe(
      "creating-with-a-full-project---scenario-create-waiting",
    );
    expect(headingSlug("10. Plans and limits")).toBe("10-plans-and-limits");
    expect(headingSlug("Limits of one invocation, and fan-out")).toBe("limits-of-one-invocation-and-fan-out");
    expect(headingSlug("[Linked](https://example.com) **bold** émigré")).toBe("linked-bold-émigré");
  });
});

describe("anchorsOf", () => {
  it("numbers repeated headings, takes HTML ids, and ignores headings inside code blocks", () => {
    const text = ["# Costs", "## Costs", '<a id="custom-place"></a>', "```sh", "# not a heading", "```"].join("\n");
    expect([...anchorsOf(text)].sort()).toEqual(["costs", "costs-1", "custom-place"]);
  });
});

describe("linksOf", () => {
  it("finds inline links, images, reference definitions and HTML targets, but none in code", () => {
    const text = [
      "See [the API](docs/api.md#errors) and ![a shot](docs/a.png).",
      '<img alt="phone" src="docs/b.png" width="320">',
      "[ref]: docs/deploy.md",
      "Shown as code: `[not a link](nowhere.md)`.",
      "```md",
      "[nor this](nowhere.md)",
      "```",
    ].join("\n");
    expect(linksOf(text)).toEqual([
      { target: "docs/api.md#errors", line: 1 },
      { target: "docs/a.png", line: 1 },
      { target: "docs/b.png", line: 2 },
      { target: "docs/deploy.md", line: 3 },
    ]);
  });
});

describe("brokenLinks", () => {
  const repo = repository({
    "README.md": "# Fliq\n## Contributing\n",
    "docs/api.md": "# API reference\n## Errors\n",
    "docs/dashboard-job.png": "",
    "src/index.ts": "",
  });

  it("passes links that resolve, relative to the linking file, and leaves external ones alone", () => {
    const text = [
      "[errors](api.md#errors) [readme](../README.md#contributing) [top](#the-client) [self](#)",
      "![shot](dashboard-job.png) [code](../src/index.ts#L1) [folder](../src) [site](https://example.com/#x)",
      "[mail](mailto:a@example.com)",
    ].join("\n");
    expect(brokenLinks("docs/client.md", `# The client\n${text}`, repo)).toEqual([]);
  });

  it("reports a missing file, a missing anchor here or in another file, and a path out of the repository", () => {
    const text = "[a](missing.md) [b](api.md#nowhere) [c](#nowhere-here) [d](../../outside.md) [e](docs/api.md)";
    expect(brokenLinks("docs/client.md", text, repo).map(({ target, problem }) => [target, problem])).toEqual([
      ["missing.md", "docs/missing.md does not exist"],
      ["api.md#nowhere", "no heading or id in docs/api.md makes #nowhere"],
      ["#nowhere-here", "no heading or id in docs/client.md makes #nowhere-here"],
      ["../../outside.md", "leads out of the repository"],
      ["docs/api.md", "docs/docs/api.md does not exist"],
    ]);
  });
});
