/**
 * A frozen copy of the Worker (sources, config, migrations) for one bench run. wrangler dev
 * rebuilds and restarts the Worker whenever a watched file changes: an edit in src/ during a run
 * would restart it mid-scenario (requests fail with 503) and change the code being measured.
 */
import { execFile, spawn } from "node:child_process";
import { cp, mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

/** What the Worker's build and its database schema need; the migrator comes along to read the copied migrations. */
const COPIED = [
  "wrangler.toml",
  "tsconfig.json",
  "worker-configuration.d.ts",
  "src",
  "migrations",
  "scripts/local/migrate.ts",
];
/** The copy's entry point: the Worker as it is, plus what the bench observes and injects from inside (see the file). */
const PROBE = "scripts/bench/worker-probe.js";

/** A copy of the Worker ready to run, and where it came from. */
export interface WorkerSnapshot {
  /** The folder to run `wrangler dev` in. */
  dir: string;
  /** What was copied: "working tree" or the revision asked for. */
  source: string;
  /** A diff applied to the copy (to measure a proposed change), if any. */
  patch?: string;
  /** The commit the copy is (or, for the working tree, is based on). */
  commit: string;
  /** For the working tree: the copied paths that differ from the commit (git status lines). */
  uncommittedChanges: string[];
  /** Applies the copy's own migrations to `databaseUrl`. */
  migrate(databaseUrl: string): Promise<void>;
  remove(): Promise<void>;
}

/**
 * Copies the Worker into `dir`, from the working tree (`source` "worktree") or from a git revision,
 * then applies `patch` (a diff against the project root, as `git diff` writes it) to the copy only.
 * `dir` must lie inside the project: the copy finds its packages in the project's node_modules.
 */
export async function snapshotWorker(
  root: string,
  dir: string,
  source: string,
  patch?: string,
): Promise<WorkerSnapshot> {
  const git = async (...args: string[]) => (await promisify(execFile)("git", args, { cwd: root })).stdout.trim();
  const remove = () => rm(dir, { recursive: true, force: true });
  await remove();
  await mkdir(dir, { recursive: true });
  let commit: string;
  let uncommittedChanges: string[] = [];
  try {
    if (source === "worktree") {
      for (const path of COPIED) await cp(join(root, path), join(dir, path), { recursive: true });
      commit = await git("rev-parse", "HEAD").catch(() => "unknown");
      const status = await git("status", "--porcelain", "--", ...COPIED).catch(() => "");
      uncommittedChanges = status.split("\n").filter((line) => line.length > 0);
    } else {
      commit = await git("rev-parse", "--verify", `${source}^{commit}`);
      await extractFromGit(root, commit, dir);
    }
    if (patch) {
      await promisify(execFile)("patch", ["-p1", "--batch", "--forward", "-d", dir, "-i", resolve(root, patch)]);
    }
    await liftRateLimits(dir);
    await enterThroughProbe(root, dir);
    // wrangler.toml names paths inside node_modules (the API reference's static assets), which
    // wrangler resolves next to the copy, not by Node's upward search.
    await symlink(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    dir,
    source: source === "worktree" ? "working tree" : source,
    patch,
    commit,
    uncommittedChanges,
    async migrate(databaseUrl) {
      // The copy's migrator resolves its migrations folder next to itself: the copy's, matching its code.
      const migrator: typeof import("../local/migrate") = await import(join(dir, "scripts/local/migrate.ts"));
      await migrator.migrateDatabase(databaseUrl);
    },
    remove,
  };
}

/**
 * The bench creates thousands of jobs a minute with one token, far past the per-token rate
 * limit production keeps: the copy's limits are raised so the bench measures delivery, not 429s.
 */
async function liftRateLimits(dir: string): Promise<void> {
  const config = join(dir, "wrangler.toml");
  const text = await readFile(config, "utf8");
  await writeFile(config, text.replace(/simple = \{ limit = \d+,/g, "simple = { limit = 1000000000,"));
}

/**
 * Makes the bench's probe the copy's entry point. It comes from the bench's own tree whatever
 * the source, as the rest of the bench does.
 */
async function enterThroughProbe(root: string, dir: string): Promise<void> {
  await mkdir(join(dir, "scripts/bench"), { recursive: true });
  await cp(join(root, PROBE), join(dir, PROBE));
  const config = join(dir, "wrangler.toml");
  const text = await readFile(config, "utf8");
  if (!/^main = "src\/index.ts"$/m.test(text)) throw new Error(`${config} does not name src/index.ts as its main`);
  await writeFile(config, text.replace(/^main = "src\/index.ts"$/m, `main = "${PROBE}"`));
}

/** `git archive <commit> <paths> | tar -x -C dir`. */
async function extractFromGit(root: string, commit: string, dir: string): Promise<void> {
  const archive = spawn("git", ["archive", "--format=tar", commit, "--", ...COPIED], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const tar = spawn("tar", ["-x", "-C", dir], { stdio: ["pipe", "ignore", "pipe"] });
  archive.stdout.pipe(tar.stdin);
  const finished = (child: typeof archive | typeof tar, name: string) =>
    new Promise<void>((resolve, reject) => {
      let errors = "";
      child.stderr?.on("data", (chunk: Buffer) => {
        errors += chunk;
      });
      child.on("error", reject);
      child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${name} failed: ${errors.trim()}`))));
    });
  await Promise.all([finished(archive, "git archive"), finished(tar, "tar")]);
  // A commit without the config would fail later with a less helpful message.
  await readFile(join(dir, "wrangler.toml"));
}
