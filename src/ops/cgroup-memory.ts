// Reads the container memory limit from the cgroup (v2 first, then v1); 0 when there is none.
// The process's own cgroup comes from /proc/self/cgroup; the effective limit is the smallest one on
// the path from that cgroup up to the mount root (a parent's limit binds its children), and only the
// levels visible in this mount namespace are read (inside a container the mount root is its cgroup).
import { readFileSync } from "node:fs";

const V2_ROOT = "/sys/fs/cgroup";
const V1_ROOT = "/sys/fs/cgroup/memory";
const V2_FILE = "memory.max";
const V1_FILE = "memory.limit_in_bytes";
/** v1 reports "no limit" as a huge page-aligned number near 2^63. */
const UNLIMITED_FLOOR = 2 ** 60;

/** One limit file's content: bytes, or 0 for "max", the v1 near-2^63 sentinel, blanks and junk. */
export function parseCgroupLimit(text: string | undefined): number {
  if (text === undefined) return 0;
  const v = text.trim();
  if (v === "" || v === "max") return 0;
  if (!/^\d+$/.test(v)) return 0;
  const n = Number(v);
  return n >= UNLIMITED_FLOOR ? 0 : n;
}

/** From /proc/self/cgroup: the v2 path ("0::/path") and the v1 memory controller path ("N:...memory...:/path"). */
export function parseProcCgroup(text: string | undefined): { v2?: string; v1?: string } {
  const out: { v2?: string; v1?: string } = {};
  for (const line of (text ?? "").split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, id, controllers, path] = m;
    if (id === "0" && controllers === "") out.v2 = path;
    else if (controllers!.split(",").includes("memory")) out.v1 = path;
  }
  return out;
}

/** Directories from the cgroup's own directory up to the mount root, deepest first ("/a/b" -> root/a/b, root/a, root). */
function ancestry(root: string, path: string | undefined): string[] {
  const parts = (path ?? "/").split("/").filter((p) => p.length > 0 && p !== "." && p !== "..");
  const dirs: string[] = [];
  for (let i = parts.length; i >= 0; i--) dirs.push([root, ...parts.slice(0, i)].join("/"));
  return dirs;
}

/** Smallest real limit among the files that exist; undefined when none of them exists. */
function smallest(read: (path: string) => string | undefined, dirs: string[], file: string): number | undefined {
  let found = false;
  let min = 0;
  for (const dir of dirs) {
    const text = read(`${dir}/${file}`);
    if (text === undefined) continue;
    found = true;
    const n = parseCgroupLimit(text);
    if (n > 0 && (min === 0 || n < min)) min = n;
  }
  return found ? min : undefined;
}

/**
 * The memory limit in bytes, 0 when unlimited or when no cgroup memory controller is visible.
 * `read` returns a file's content or undefined when it cannot be read (tests pass a fake file system).
 */
export function readMemoryLimit(read: (path: string) => string | undefined = tryRead): number {
  const self = parseProcCgroup(read("/proc/self/cgroup"));
  // cgroup v2 (unified): memory.max exists on every non-root level; the root itself has none.
  const v2 = smallest(read, ancestry(V2_ROOT, self.v2), V2_FILE);
  if (v2 !== undefined) return v2;
  // cgroup v1 (or hybrid): the memory controller's own hierarchy; its root does have the file.
  return smallest(read, ancestry(V1_ROOT, self.v1), V1_FILE) ?? 0;
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
