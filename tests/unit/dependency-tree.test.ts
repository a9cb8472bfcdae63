// The uWS integration patches socket.io-adapter's prototype (socket.io's own patch, then ours):
// a second copy of socket.io-adapter (e.g. nested under @socket.io/redis-adapter) would silently
// keep the unpatched broadcast for cluster deliveries. Exactly one copy may exist.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

interface LockPackage {
  version?: string;
}

describe("dependency tree", () => {
  const lock = JSON.parse(readFileSync(new URL("../../package-lock.json", import.meta.url), "utf8")) as { packages: Record<string, LockPackage> };
  const copies = (name: string) => Object.keys(lock.packages).filter((p) => p === `node_modules/${name}` || p.endsWith(`/node_modules/${name}`));

  it("holds exactly one socket.io-adapter", () => {
    expect(copies("socket.io-adapter")).toEqual(["node_modules/socket.io-adapter"]);
  });

  it("resolves the same copy from socket.io and from the Redis adapters at run time", async () => {
    const { createRequire } = await import("node:module");
    const fromRoot = createRequire(import.meta.url).resolve("socket.io-adapter");
    for (const pkg of ["socket.io", "@socket.io/redis-adapter"]) {
      const req = createRequire(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
      expect(req.resolve("socket.io-adapter")).toBe(fromRoot);
    }
  });
});
