// Reads the container memory limit: cgroup v2 first, then v1; 0 when there is none.
import { readFileSync } from "node:fs";

const V2 = "/sys/fs/cgroup/memory.max";
const V1 = "/sys/fs/cgroup/memory/memory.limit_in_bytes";
/** v1 reports "no limit" as a huge page-aligned number near 2^63. */
const UNLIMITED_FLOOR = 2 ** 60;

export function parseCgroupLimit(text: string | undefined): number {
  if (text === undefined) return 0;
  const v = text.trim();
  if (v === "" || v === "max") return 0;
  if (!/^\d+$/.test(v)) return 0;
  const n = Number(v);
  return n >= UNLIMITED_FLOOR ? 0 : n;
}

export function readMemoryLimit(read: (path: string) => string | undefined = tryRead): number {
  const v2 = read(V2);
  if (v2 !== undefined) return parseCgroupLimit(v2);
  return parseCgroupLimit(read(V1));
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
