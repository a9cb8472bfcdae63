// Shared by the chart and manifest tests: tool checks, the Go chart renderer, YAML loading and
// validation of rendered objects against the Kubernetes / prometheus-operator / KEDA schemas.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse as parseYaml, stringify as toYaml } from "yaml";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const chartDir = join(repoRoot, "helm/socketgate");

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  [k: string]: unknown;
};

/** A scratch directory under tests/.tmp (git-ignored), unique per test process. */
export function scratch(name: string): string {
  const dir = join(repoRoot, "tests/.tmp", `${name}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The test command installs these tools; a missing one is a broken environment, not a skip. */
export function requireTool(tool: string, pkg: string): string {
  const r = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) {
    throw new Error(`${tool} is not installed: install the Debian package "${pkg}" (apt-get install -y ${pkg})`);
  }
  return path;
}

let rendererPath: string | undefined;

/** Builds tests/deploy/render (Go text/template + sprig, Helm's semantics) once per test process. */
export function renderer(): string {
  if (rendererPath) return rendererPath;
  requireTool("go", "golang-go");
  for (const dep of ["github.com/Masterminds/sprig", "sigs.k8s.io/yaml"]) {
    if (!existsSync(join("/usr/share/gocode/src", dep))) {
      throw new Error(`Go package ${dep} missing: install golang-github-masterminds-sprig-dev and golang-k8s-sigs-yaml-dev`);
    }
  }
  const out = join(scratch("render"), "render");
  execFileSync("go", ["build", "-o", out, "."], {
    cwd: join(repoRoot, "tests/deploy/render"),
    env: { ...process.env, GO111MODULE: "off", GOPATH: "/usr/share/gocode", GOCACHE: join(repoRoot, "tests/.tmp/gocache"), GOFLAGS: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  rendererPath = out;
  return out;
}

/** cluster: objects Helm's lookup finds (as if installed); without it lookup finds nothing, like `helm template`. */
export type RenderOptions = { name?: string; namespace?: string; notes?: boolean; cluster?: object[] };

function renderArgs(values: object[], opts: RenderOptions, dir: string): string[] {
  const args = ["-chart", chartDir, "-name", opts.name ?? "socketgate", "-namespace", opts.namespace ?? "socketgate"];
  values.forEach((v, i) => {
    const f = join(dir, `values-${i}.yaml`);
    writeFileSync(f, toYaml(v));
    args.push("-f", f);
  });
  if (opts.notes) args.push("-notes");
  if (opts.cluster) {
    const f = join(dir, "cluster.yaml");
    writeFileSync(f, toYaml(opts.cluster));
    args.push("-cluster", f);
  }
  return args;
}

/** Renders the chart with values.yaml + the given overrides (later wins), like `helm template -f`. */
export function renderChart(values: object[] = [], opts: RenderOptions = {}): { docs: K8sObject[]; text: string; values: any } {
  const dir = scratch("render-run");
  const valuesOut = join(dir, "merged.json");
  const args = [...renderArgs(values, opts, dir), "-values-out", valuesOut];
  const r = spawnSync(renderer(), args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`chart render failed: ${r.stderr}`);
  return { docs: opts.notes ? [] : loadYamlDocs(r.stdout), text: r.stdout, values: JSON.parse(readFileSync(valuesOut, "utf8")) };
}

/** values.yaml merged with the overrides, without rendering: what Helm checks values.schema.json against. */
export function mergedValues(values: object[]): any {
  const dir = scratch("render-run");
  const valuesOut = join(dir, "merged.json");
  runOk(renderer(), [...renderArgs(values, {}, dir), "-values-out", valuesOut, "-values-only"]);
  return JSON.parse(readFileSync(valuesOut, "utf8"));
}

/** Renders expecting a refusal; returns the renderer's error text. */
export function renderChartError(values: object[]): string {
  const dir = scratch("render-run");
  const r = spawnSync(renderer(), renderArgs(values, {}, dir), { encoding: "utf8" });
  if (r.status === 0) throw new Error("chart rendered, but a refusal was expected");
  return r.stderr;
}

export function loadYamlDocs(text: string): K8sObject[] {
  const docs: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`invalid YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
    const obj = doc.toJS();
    if (obj != null) docs.push(obj as K8sObject);
  }
  return docs;
}

export function readYaml(path: string): any {
  return parseYaml(readFileSync(join(repoRoot, path), "utf8"));
}

export function findOne(docs: K8sObject[], kind: string, name?: string): K8sObject {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  return found[0]!;
}

// Where each apiVersion's models live. An object of any other apiVersion fails validation, so
// nothing rendered escapes schema checks.
function modelModule(apiVersion: string): string {
  if (apiVersion.startsWith("monitoring.coreos.com/")) return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  if (apiVersion.startsWith("keda.sh/")) return `@kubernetes-models/keda/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

/**
 * Validates objects in two passes: the JSON schemas (types, required fields, enums, formats) of
 * kubernetes-models / @kubernetes-models/*, then a TypeScript excess-property check against the
 * same packages' interfaces, because those schemas allow unknown fields and a typo such as
 * `stabilisationWindowSeconds` would otherwise pass here and be dropped or refused by the API
 * server. Returns one message per problem.
 */
export async function validateObjects(docs: K8sObject[]): Promise<string[]> {
  return (await validateObjectSets({ only: docs })).only!;
}

/**
 * validateObjects for several sets at once, with one TypeScript run for all of them (tsc is the
 * slow part: one run per set does not fit a test timeout on a loaded machine). Problems per set.
 */
export async function validateObjectSets(sets: Record<string, K8sObject[]>): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  const typed: { mod: string; kind: string; obj: K8sObject; set: string }[] = [];
  for (const [set, docs] of Object.entries(sets)) out[set] = await schemaPass(docs, set, typed);
  for (const { set, message } of strictFieldCheck(typed)) out[set]!.push(message);
  return out;
}

async function schemaPass(docs: K8sObject[], set: string, typed: { mod: string; kind: string; obj: K8sObject; set: string }[]): Promise<string[]> {
  const problems: string[] = [];
  for (const obj of docs) {
    const where = `${obj?.kind}/${obj?.metadata?.name}`;
    if (!obj?.apiVersion || !obj.kind) {
      problems.push(`${where}: missing apiVersion/kind`);
      continue;
    }
    const mod = modelModule(obj.apiVersion);
    let Model: any;
    try {
      Model = (await import(mod))[obj.kind];
    } catch {
      Model = undefined;
    }
    if (!Model) {
      problems.push(`${where}: no schema for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      problems.push(`${where}: ${(e as Error).message}`);
    }
    typed.push({ mod, kind: obj.kind, obj, set });
  }
  return problems;
}

function strictFieldCheck(items: { mod: string; kind: string; obj: K8sObject; set: string }[]): { set: string; message: string }[] {
  if (items.length === 0) return [];
  const dir = scratch("strict");
  const file = join(dir, `objects-${Date.now()}.ts`);
  const lines: string[] = [];
  items.forEach(({ mod, kind, obj, set }, i) => {
    lines.push(`import type { I${kind} as T${i} } from "${mod}/${kind}";`);
    lines.push(`// ${set}\t${kind}/${obj.metadata?.name}`);
    lines.push(`export const o${i}: T${i} = ${JSON.stringify(obj, null, 1)};`);
  });
  const text = lines.join("\n") + "\n";
  const physical = text.split("\n");
  writeFileSync(file, text);
  try {
    const tsc = join(repoRoot, "node_modules/typescript/bin/tsc");
    const r = spawnSync(
      process.execPath,
      [tsc, "--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--types", "node", file],
      { encoding: "utf8", cwd: repoRoot },
    );
    if (r.status === 0) return [];
    return (r.stdout + r.stderr)
      .split("\n")
      .filter((l) => l.includes("error TS"))
      .map((l) => {
        // Point at the object, not at the generated file's line.
        const m = /\((\d+),\d+\)/.exec(l);
        const line = m ? Number(m[1]) : 0;
        const header = physical
          .slice(0, line)
          .reverse()
          .find((x) => x.startsWith("// "));
        const [set, where] = (header?.slice(3) ?? "?\t?").split("\t") as [string, string];
        return { set, message: `${where}: ${l.replace(/^.*error TS\d+: /, "")}` };
      });
  } finally {
    // tests/.tmp is inside tsconfig's "tests" include: never leave a generated .ts behind.
    rmSync(file, { force: true });
  }
}

/** The alert thresholds file, the one source of the numbers. */
export type ThresholdEntry = {
  key: string;
  alert: string;
  title: string;
  firesWhen: string;
  threshold: number;
  unit: "ratio" | "seconds" | "perMinute";
  for: string;
  severity: string;
  source: string;
  /** Rate window of the expression (for panics also how long one error keeps it firing). */
  window?: string;
  /** Denominator traffic per second below which the rule does not evaluate. */
  minRate?: number;
  /** Connection-failure reasons that are the client's fault (left out of the numerator). */
  excludeReasons?: string[];
};
export function loadThresholds(): ThresholdEntry[] {
  return readYaml("helm/socketgate/thresholds.yaml").alerts as ThresholdEntry[];
}

/** Alerts with no SPEC number (target down, metrics absent, process errors, fan-out): duration and severity only. */
export type OperationalAlert = { key: string; alert: string; title: string; firesWhen: string; for: string; severity: string; window?: string };
export function loadOperationalAlerts(): OperationalAlert[] {
  return readYaml("helm/socketgate/thresholds.yaml").operational as OperationalAlert[];
}

export function runOk(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", cwd: opts.cwd ?? repoRoot, input: opts.input, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
