// No Docker engine runs here, so the image is checked statically: what it copies exists and is
// not excluded from the build context, its start command is the documented one, and its user,
// ports and signal handling match what the chart assumes.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readYaml, repoRoot } from "./lib.js";

type Instr = { op: string; args: string };
const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
const instrs: Instr[] = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"))
  .map((l) => {
    const [op, ...rest] = l.split(/\s+/);
    return { op: op!.toUpperCase(), args: rest.join(" ") };
  });
const stages = instrs.reduce<Instr[][]>((acc, i) => (i.op === "FROM" ? acc.push([i]) : acc.at(-1)?.push(i), acc), []);
const runtime = stages.at(-1)!;
const only = (stage: Instr[], op: string) => stage.filter((i) => i.op === op);
const argDefault = (name: string) => instrs.find((i) => i.op === "ARG" && i.args.startsWith(`${name}=`))?.args.split("=")[1];
const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));

// .dockerignore semantics for the patterns used there: exact path, directory prefix, `*` globs,
// `!` exceptions; as in Docker, the last pattern that matches decides.
const ignorePatterns = readFileSync(join(repoRoot, ".dockerignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));
const ignored = (path: string) => {
  let result = false;
  for (const line of ignorePatterns) {
    const negated = line.startsWith("!");
    const p = negated ? line.slice(1) : line;
    const re = new RegExp("^" + p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*") + "(/.*)?$");
    if (re.test(path)) result = !negated;
  }
  return result;
};

const baseImage = argDefault("NODE_IMAGE") ?? "";
/** Node major -> module ABI (process.versions.modules), the suffix of uWS binary names. */
const NODE_ABI: Record<string, number> = { "20": 115, "22": 127, "24": 137, "25": 141 };
/** glibc of each Debian suite the node:<major>-<suite>-slim images are built on. */
const DEBIAN_GLIBC: Record<string, string> = { bookworm: "2.36", trixie: "2.41" };
const compareVersions = (a: string, b: string) => {
  const [x, y] = [a, b].map((v) => v.split(".").map(Number));
  for (let i = 0; i < Math.max(x!.length, y!.length); i++) if ((x![i] ?? 0) !== (y![i] ?? 0)) return (x![i] ?? 0) - (y![i] ?? 0);
  return 0;
};

/** The GLIBC_x.y versions an ELF64 little-endian shared object asks for: the names in its .dynstr section. */
function glibcVersionsNeeded(elf: Buffer): string[] {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error("not an ELF64 little-endian file");
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const [shentsize, shnum, shstrndx] = [elf.readUInt16LE(0x3a), elf.readUInt16LE(0x3c), elf.readUInt16LE(0x3e)];
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 0x18)), size: Number(elf.readBigUInt64LE(at + 0x20)) };
  };
  const names = section(shstrndx);
  const nameOf = (s: { name: number }) => elf.toString("latin1", names.offset + s.name, elf.indexOf(0, names.offset + s.name));
  const dynstr = Array.from({ length: shnum }, (_, i) => section(i)).find((s) => nameOf(s) === ".dynstr");
  if (!dynstr) throw new Error("no .dynstr section");
  const text = elf.toString("latin1", dynstr.offset, dynstr.offset + dynstr.size);
  return [...new Set([...text.matchAll(/\bGLIBC_(\d+\.\d+(?:\.\d+)?)\0/g)].map((m) => m[1]!))];
}

/** Whether an npm engines range of the forms used here (`>=a <b || ...`) admits a version. */
function semverRangeAllows(range: string, version: string): boolean {
  return range.split("||").some((alt) =>
    alt
      .trim()
      .split(/\s+/)
      .every((cmp) => {
        const m = /^(>=|<=|>|<|=)?(\d+(?:\.\d+)*)$/.exec(cmp);
        if (!m) throw new Error(`unsupported engines comparator ${cmp}`);
        const c = compareVersions(version, m[2]!);
        return { ">=": c >= 0, "<=": c <= 0, ">": c > 0, "<": c < 0, "=": c === 0 }[m[1] ?? "="]!;
      }),
  );
}

describe("Dockerfile", () => {
  it("is multi-stage on a supported Node LTS (24, or 22) on Debian slim, never Alpine", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s[0]!.args.split(/\s+/)[0]!.replace("${NODE_IMAGE}", baseImage)).toBe(baseImage);
    expect(baseImage).toMatch(/^node:(24|22)[.\d]*-(trixie|bookworm)-slim$/);
    expect(baseImage.startsWith("node:24"), "the image runs Node 24 LTS").toBe(true);
    const [, major] = /^node:(\d+)/.exec(baseImage)!;
    expect(semverRangeAllows(pkg.engines.node, `${major}.0.0`), `package.json engines.node allows Node ${major}`).toBe(true);
  });

  it("has a base whose glibc is new enough for the uWS binary that loads on its Node ABI", () => {
    // The binary the image's Node loads (uws_<platform>_<arch>_<ABI>.node of the current build), for
    // both architectures a cluster may run; its GLIBC_x.y symbol versions are what the dynamic linker
    // demands. A base with an older glibc (bookworm: 2.36) makes the loader fall back, and the gateway refuse to start.
    const [, major, suite] = /^node:(\d+)[.\d]*-(\w+)-slim$/.exec(baseImage)!;
    const abi = NODE_ABI[major!];
    const baseGlibc = DEBIAN_GLIBC[suite!];
    expect(abi, `Node ${major}'s ABI`).toBeDefined();
    expect(baseGlibc, `glibc of Debian ${suite}`).toBeDefined();
    for (const arch of ["x64", "arm64"]) {
      const binary = join(repoRoot, "node_modules/uwebsockets.js-current", `uws_linux_${arch}_${abi}.node`);
      expect(existsSync(binary), `${binary} (npm ci installs it)`).toBe(true);
      const required = glibcVersionsNeeded(readFileSync(binary)).sort(compareVersions).at(-1)!;
      expect(required, `${binary} needs glibc ${required}`).toMatch(/^2\.\d+$/);
      expect(
        compareVersions(baseGlibc!, required),
        `${baseImage} has glibc ${baseGlibc}, uws_linux_${arch}_${abi}.node needs ${required}`,
      ).toBeGreaterThanOrEqual(0);
    }
  });

  it("installs production dependencies with npm ci --omit=dev for the runtime", () => {
    const depsStage = stages.find((s) => only(s, "RUN").some((r) => r.args.includes("npm ci --omit=dev")));
    expect(depsStage, "a stage must run npm ci --omit=dev").toBeDefined();
    const alias = depsStage![0]!.args.split(/\s+AS\s+/i)[1];
    expect(only(runtime, "COPY").some((c) => c.args.includes(`--from=${alias}`) && c.args.includes("node_modules"))).toBe(true);
  });

  it("copies only files that exist and that .dockerignore lets through", () => {
    const sources = instrs.filter((i) => i.op === "COPY" && !i.args.includes("--from=")).flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources) {
      expect(existsSync(join(repoRoot, src)), `${src} is copied but does not exist`).toBe(true);
      expect(ignored(src), `${src} is copied but excluded by .dockerignore`).toBe(false);
    }
    for (const out of ["node_modules", "dist", ".git", "tests", "tests/.tmp", ".env"]) expect(ignored(out), out).toBe(true);
  });

  it("builds dist/ with the package's build script and starts it with the documented command", () => {
    expect(only(stages[0]!, "RUN").map((r) => r.args)).toContain("npm run build");
    const tsconfigBuild = JSON.parse(readFileSync(join(repoRoot, "tsconfig.build.json"), "utf8"));
    expect(tsconfigBuild.compilerOptions.outDir).toBe("dist");
    const cmd = JSON.parse(only(runtime, "CMD")[0]!.args) as string[];
    expect(cmd.join(" ")).toBe(pkg.scripts.start);
    const readme = join(repoRoot, "README.md");
    if (!existsSync(readme)) throw new Error("README.md is missing; it must document the start command `node dist/main.js`");
    expect(readFileSync(readme, "utf8"), "README.md must document the image's start command").toContain(cmd.join(" "));
  });

  it("runs as a numeric non-root user under tini, in production mode, on the chart's ports", () => {
    const user = only(runtime, "USER").at(-1)!.args;
    expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    const values = readYaml("helm/socketgate/values.yaml");
    expect(user).toBe(`${values.podSecurityContext.runAsUser}:${values.podSecurityContext.runAsGroup}`);
    expect(JSON.parse(only(runtime, "ENTRYPOINT")[0]!.args)).toEqual(["/usr/bin/tini", "--"]);
    expect(only(runtime, "RUN").some((r) => /apt-get install .*\btini\b/.test(r.args))).toBe(true);
    expect(only(runtime, "ENV").map((e) => e.args)).toContain("NODE_ENV=production");
    expect(only(runtime, "EXPOSE")[0]!.args.split(/\s+/).map(Number)).toEqual([values.gateway.port, values.gateway.opsPort]);
  });
});
