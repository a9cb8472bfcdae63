// The cgroup memory limit: v2, v1, nested cgroups, ancestors' limits, and no limit at all.
import { describe, expect, it } from "vitest";
import { parseCgroupLimit, parseProcCgroup, readMemoryLimit } from "../../src/ops/cgroup-memory.js";

const fs = (files: Record<string, string>) => (path: string) => files[path];

describe("parseCgroupLimit", () => {
  it("reads bytes and treats max, the v1 sentinel, blanks and junk as no limit", () => {
    expect(parseCgroupLimit("536870912\n")).toBe(536870912);
    expect(parseCgroupLimit("max\n")).toBe(0);
    expect(parseCgroupLimit("9223372036854771712\n")).toBe(0);
    expect(parseCgroupLimit("")).toBe(0);
    expect(parseCgroupLimit("-1")).toBe(0);
    expect(parseCgroupLimit("12abc")).toBe(0);
    expect(parseCgroupLimit(undefined)).toBe(0);
  });
});

describe("parseProcCgroup", () => {
  it("finds the unified path and the v1 memory controller path (also when co-mounted)", () => {
    expect(parseProcCgroup("0::/kubepods/pod1/c1\n")).toEqual({ v2: "/kubepods/pod1/c1" });
    expect(parseProcCgroup("12:pids:/docker/x\n9:cpuacct,memory:/docker/abc\n1:name=systemd:/docker/abc\n")).toEqual({ v1: "/docker/abc" });
    expect(parseProcCgroup("5:memory:/a\n0::/b\n")).toEqual({ v1: "/a", v2: "/b" });
    expect(parseProcCgroup(undefined)).toEqual({});
  });
});

describe("readMemoryLimit", () => {
  it("cgroup v2 inside a container (cgroup namespace: the mount root is the container)", () => {
    expect(readMemoryLimit(fs({ "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "268435456\n" }))).toBe(268435456);
  });

  it("cgroup v2 with no limit", () => {
    expect(readMemoryLimit(fs({ "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "max\n" }))).toBe(0);
  });

  it("cgroup v2 nested: the smallest limit on the way up binds (the pod's, not the container's max)", () => {
    const read = fs({
      "/proc/self/cgroup": "0::/kubepods.slice/pod1/ctr\n",
      "/sys/fs/cgroup/kubepods.slice/pod1/ctr/memory.max": "max\n",
      "/sys/fs/cgroup/kubepods.slice/pod1/memory.max": "1073741824\n",
      "/sys/fs/cgroup/kubepods.slice/memory.max": "8589934592\n",
    });
    expect(readMemoryLimit(read)).toBe(1073741824);
  });

  it("cgroup v2 without a namespace: a path that is not mounted here falls back to the mount root", () => {
    expect(readMemoryLimit(fs({ "/proc/self/cgroup": "0::/host/side/path\n", "/sys/fs/cgroup/memory.max": "5000000\n" }))).toBe(5000000);
  });

  it("cgroup v1: the memory controller's file, the unlimited sentinel read as 0", () => {
    const v1 = "/sys/fs/cgroup/memory/memory.limit_in_bytes";
    expect(readMemoryLimit(fs({ "/proc/self/cgroup": "4:memory:/docker/abc\n", [v1]: "402653184\n" }))).toBe(402653184);
    expect(readMemoryLimit(fs({ "/proc/self/cgroup": "4:memory:/docker/abc\n", [v1]: "9223372036854771712\n" }))).toBe(0);
    expect(
      readMemoryLimit(
        fs({
          "/proc/self/cgroup": "4:memory:/docker/abc\n",
          "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "1000000\n",
          [v1]: "9223372036854771712\n",
        }),
      ),
    ).toBe(1000000);
  });

  it("hybrid hosts (unified path listed but no memory.max there) use v1", () => {
    expect(readMemoryLimit(fs({ "/proc/self/cgroup": "0::/x\n4:memory:/x\n", "/sys/fs/cgroup/memory/memory.limit_in_bytes": "7340032\n" }))).toBe(7340032);
  });

  it("no cgroup files at all (macOS, locked-down sandboxes): 0, never a throw", () => {
    expect(readMemoryLimit(fs({}))).toBe(0);
  });

  it("the real machine answers a number", () => {
    expect(readMemoryLimit()).toBeGreaterThanOrEqual(0);
  });
});
