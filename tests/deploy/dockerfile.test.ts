// No Docker engine runs here, so the image is checked statically: what it copies exists and is
// not excluded from the build context, its start command is the documented one, and its user,
// ports and signal handling match what the chart assumes.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readYaml, repoRoot } from "./lib.js";

type Instr = { op: string; args: string };
const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
const instrs: Instr[] = dockerfile.replace(/\\\n/g, " ").split("\n")
  .map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
  .map((l) => { const [op, ...rest] = l.split(/\s+/); return { op: op!.toUpperCase(), args: rest.join(" ") }; });
const stages = instrs.reduce<Instr[][]>((acc, i) => (i.op === "FROM" ? acc.push([i]) : acc.at(-1)?.push(i), acc), []);
const runtime = stages.at(-1)!;
const only = (stage: Instr[], op: string) => stage.filter((i) => i.op === op);
const argDefault = (name: string) => instrs.find((i) => i.op === "ARG" && i.args.startsWith(`${name}=`))?.args.split("=")[1];
const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));

// .dockerignore semantics for the patterns used there: exact path, directory prefix, `*` globs,
// `!` exceptions; as in Docker, the last pattern that matches decides.
const ignorePatterns = readFileSync(join(repoRoot, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
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

describe("Dockerfile", () => {
  it("is multi-stage on glibc Node 20 slim, never Alpine", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const image = argDefault("NODE_IMAGE");
    for (const s of stages) {
      const from = s[0]!.args.split(/\s+/)[0]!.replace("${NODE_IMAGE}", image ?? "");
      expect(from).toMatch(/^node:20[.\d]*-(bookworm|bullseye)-slim$/);
    }
  });

  it("installs production dependencies with npm ci --omit=dev for the runtime", () => {
    const depsStage = stages.find((s) => only(s, "RUN").some((r) => r.args.includes("npm ci --omit=dev")));
    expect(depsStage, "a stage must run npm ci --omit=dev").toBeDefined();
    const alias = depsStage![0]!.args.split(/\s+AS\s+/i)[1];
    expect(only(runtime, "COPY").some((c) => c.args.includes(`--from=${alias}`) && c.args.includes("node_modules"))).toBe(true);
  });

  it("copies only files that exist and that .dockerignore lets through", () => {
    const sources = instrs.filter((i) => i.op === "COPY" && !i.args.includes("--from="))
      .flatMap((c) => c.args.split(/\s+/).slice(0, -1));
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
