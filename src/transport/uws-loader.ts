// Picks, at start-up, the first declared uWebSockets.js build whose native binary loads on this Node
// ABI and glibc (the current build before the legacy one). Only when none loads does it hand back the
// legacy package's slow JavaScript fallback, which startup-checks refuses unless ALLOW_UWS_FALLBACK.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as UWS from "uWebSockets.js";

export type Uws = typeof UWS;

/** Label values of socketgate_uws_build_info{build}: bounded to the declared builds. */
export type UwsBuildName = "current" | "legacy";

export interface UwsBuild {
  name: UwsBuildName;
  /** The npm alias in package.json. */
  packageName: string;
  /** Where the package keeps its uws_<platform>_<arch>_<abi>.node files, relative to its root. */
  binaryDir: string;
}

/**
 * Preference order. current: @btc-vision/uwebsockets.js (uWS v20.57, Node 20/22/24/25, glibc >= 2.38,
 * the image). legacy: @trufflesuite/uws-js-unofficial (uWS v20.30, Node <= 20, glibc 2.36 machines).
 */
export const UWS_BUILDS: readonly UwsBuild[] = [
  { name: "current", packageName: "uwebsockets.js-current", binaryDir: "." },
  { name: "legacy", packageName: "uWebSockets.js", binaryDir: "binaries" },
];

export interface DeclaredUwsBuild {
  build: UwsBuildName;
  /** uWS version (semver core of the package version: 20.30.0-unofficial.0 -> 20.30.0). */
  version: string;
  /** The registry package and its exact version, for the log. */
  package: string;
}

export interface LoadedUws extends DeclaredUwsBuild {
  uws: Uws;
  /** false: the legacy package's JavaScript fallback (no build loaded natively, or UWS_USE_FALLBACK). */
  native: boolean;
  detail: string;
  /** Every declared build, for the build-info metric's pre-created series. */
  declared: DeclaredUwsBuild[];
}

const require = createRequire(import.meta.url);

export function loadUws(env: NodeJS.ProcessEnv = process.env): LoadedUws {
  const binaryName = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  const builds = UWS_BUILDS.map((b) => ({ ...b, ...describeBuild(b) }));
  const declared = builds.map(({ build, version, package: pkg }) => ({ build, version, package: pkg }));
  const failures: string[] = [];
  // The legacy package honours UWS_USE_FALLBACK (forces its JavaScript server); keep that meaning here.
  const forceFallback = ["1", "true"].includes((env.UWS_USE_FALLBACK ?? "").toLowerCase());
  if (!forceFallback) {
    for (const b of builds) {
      const binary = join(b.root, b.binaryDir, binaryName);
      try {
        // Loading the addon by path first tells "native" from "fallback" without the package's own
        // catch-and-fallback; the package then gets the same (cached) addon plus its JavaScript extras.
        require(binary);
        const uws = require(b.packageName) as Uws;
        return {
          uws,
          native: true,
          build: b.build,
          version: b.version,
          package: b.package,
          declared,
          detail: `${b.build} build ${b.package}, native binary ${binaryName}${failures.length ? ` (skipped ${failures.join("; ")})` : ""}`,
        };
      } catch (err) {
        failures.push(`${b.build} (${b.package}): ${firstLine(err)}`);
      }
    }
  }
  const legacy = builds.find((b) => b.build === "legacy")!;
  const uws = require(legacy.packageName) as Uws;
  const why = forceFallback ? `UWS_USE_FALLBACK=${env.UWS_USE_FALLBACK}` : `no native binary loads for ${binaryName}: ${failures.join("; ")}`;
  return {
    uws,
    native: false,
    build: legacy.build,
    version: legacy.version,
    package: legacy.package,
    declared,
    detail: `JavaScript fallback of ${legacy.package} (${why})`,
  };
}

function describeBuild(b: UwsBuild): DeclaredUwsBuild & { root: string } {
  const root = packageRoot(require.resolve(b.packageName));
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name: string; version: string };
  return { build: b.name, version: manifest.version.replace(/-.*$/, ""), package: `${manifest.name}@${manifest.version}`, root };
}

/** The directory holding the package.json of the package that owns `file` (its exports map hides package.json). */
function packageRoot(file: string): string {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
  }
  throw new Error(`no package.json above ${file}`);
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // dlopen errors name the missing symbol version (GLIBC_2.38) or file; keep that line, drop the stack.
  return (
    text
      .split("\n")
      .find((l) => /GLIBC_|not found|cannot open|No such file|Cannot find module/.test(l))
      ?.trim() ?? text.split("\n")[0]!.trim()
  );
}
