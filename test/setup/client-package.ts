/**
 * The client package as its users get it: built, packed by `npm pack`, and unpacked or installed
 * from the tarball. The example Worker's harness and the package test both start here, so what
 * they exercise is exactly what `npm publish` would ship.
 */
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The package's source directory (its manifest, sources and build configuration). */
export const CLIENT_PACKAGE_DIR = fileURLToPath(new URL("../../src/client", import.meta.url));

/** Builds the package and packs it into `destination`; returns the tarball's path. */
export async function packClientPackage(destination: string): Promise<string> {
  await mkdir(destination, { recursive: true });
  // `npm pack` runs the package's prepack script, which builds dist/ from the sources.
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", destination], {
    cwd: CLIENT_PACKAGE_DIR,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf("["))) as Array<{ filename: string }>;
  return join(destination, packed.filename);
}

/** Unpacks a tarball as `node_modules/@fliq/client` under `root`, as an install would place it. */
export async function unpackInto(root: string, tarball: string): Promise<string> {
  const target = join(root, "node_modules", "@fliq", "client");
  await mkdir(target, { recursive: true });
  await run("tar", ["-xzf", tarball, "-C", target, "--strip-components=1"]);
  return join(root, "node_modules");
}
