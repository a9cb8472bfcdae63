// The declared uWebSockets.js builds: pinned exactly with registry integrity, and the start-up loader's
// choice on this machine (a native build, never silently the JavaScript fallback; the fallback path
// itself is a process-level test in tests/integration/startup.test.ts).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { UWS_BUILDS, loadUws } from "../../src/transport/uws-loader.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { dependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(new URL("../../package-lock.json", import.meta.url), "utf8")) as {
  packages: Record<string, { name?: string; version?: string; integrity?: string }>;
};
/** glibc of this machine (undefined on musl or non-Linux). */
const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
const glibcAtLeast = (major: number, minor: number) => {
  const [a = 0, b = 0] = (glibc ?? "0.0").split(".").map(Number);
  return a > major || (a === major && b >= minor);
};

describe("declared uWebSockets.js builds", () => {
  it("each build is an npm alias to an exact version, locked with a sha512 integrity", () => {
    expect(UWS_BUILDS.map((b) => b.name)).toEqual(["current", "legacy"]);
    for (const b of UWS_BUILDS) {
      const spec = pkg.dependencies[b.packageName];
      expect(spec, `${b.packageName} in dependencies`).toMatch(/^npm:@[a-z0-9-]+\/[a-z0-9.-]+@\d+\.\d+\.\d+(-[\w.]+)?$/);
      const [, name, version] = /^npm:(@[^@]+)@(.+)$/.exec(spec!)!;
      const locked = lock.packages[`node_modules/${b.packageName}`];
      expect(locked, `${b.packageName} locked`).toMatchObject({ name, version });
      expect(locked!.integrity).toMatch(/^sha512-/);
    }
    expect(pkg.dependencies["uWebSockets.js"]).toBe("npm:@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0");
    expect(pkg.dependencies["uwebsockets.js-current"]).toBe("npm:@btc-vision/uwebsockets.js@20.57.0");
  });

  it("the loader picks a native build for this Node ABI and glibc: the current one where glibc >= 2.38", () => {
    const loaded = loadUws({});
    expect(loaded.native, loaded.detail).toBe(true);
    // current: Node 20/22/24/25 on glibc >= 2.38; legacy: Node <= 20 on older glibc (these machines).
    const expected = glibcAtLeast(2, 38) ? "current" : "legacy";
    expect(loaded.build, loaded.detail).toBe(expected);
    expect(loaded.version).toBe(expected === "current" ? "20.57.0" : "20.30.0");
    if (expected === "legacy") expect(loaded.detail).toMatch(/skipped current .*GLIBC_2\.38/);
    expect(typeof loaded.uws.App).toBe("function");
    expect(loaded.declared.map((d) => `${d.build}@${d.version}`)).toEqual(["current@20.57.0", "legacy@20.30.0"]);
  });
});
