// Process management for the bench: every system under test is its own process, pinned to a core
// with taskset when available, ready when GET /health answers, killed by the runner (always).
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";

const children = new Set();
const NOFILE = 65536;
let tasksetOk;

export function hasTaskset() {
  if (tasksetOk === undefined) {
    try {
      execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
      tasksetOk = true;
    } catch {
      tasksetOk = false;
    }
  }
  return tasksetOk;
}

/** Pins this process (the load generator) to a core; returns whether it worked. */
export function pinSelf(core) {
  if (!hasTaskset()) return false;
  try {
    // -a: every thread of the process (libuv's pool and V8's helpers already exist by now), not only the main one.
    execFileSync("taskset", ["-a", "-pc", String(core), String(process.pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Pins every thread of a running process (e.g. one started through a wrapper) to `core`; false when it cannot. */
export function pinAllThreads(pid, core) {
  if (!hasTaskset()) return false;
  try {
    execFileSync("taskset", ["-a", "-pc", String(core), String(pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function httpGet(url, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve({ status: 0, body: "" }));
  });
}
export { httpGet };

/**
 * Spawns `cmd args` (pinned to `core` when possible) and waits until `ready()` resolves true.
 * @returns {Promise<{pid:number, name:string, stop:()=>Promise<void>, output:()=>string, exited:boolean}>}
 */
export async function startProcess({ name, cmd, args, env, core, ready, timeoutMs = 20_000, cwd }) {
  const pinned = core !== undefined && hasTaskset();
  // Through sh to raise the descriptor limit (10,000 idle connections); exec keeps the pid.
  const argv = pinned ? ["taskset", "-c", String(core), cmd, ...args] : [cmd, ...args];
  const child = spawn("sh", ["-c", `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`, "sh", ...argv], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    cwd,
  });
  children.add(child);
  let out = "";
  const keep = (c) => {
    out += c;
    if (out.length > 20_000) out = out.slice(-10_000);
  };
  child.stdout.setEncoding("utf8").on("data", keep);
  child.stderr.setEncoding("utf8").on("data", keep);
  const proc = {
    name,
    pid: child.pid,
    pinned,
    exited: false,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exited) return resolve();
        const t = setTimeout(() => {
          child.kill("SIGKILL");
        }, 2000);
        child.once("exit", () => (clearTimeout(t), resolve()));
        child.kill("SIGKILL");
      }),
  };
  child.once("exit", () => {
    proc.exited = true;
    children.delete(child);
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exited) throw new Error(`${name} exited before ready:\n${out.slice(-2000)}`);
    if (await ready(out)) return proc;
    await new Promise((r) => setTimeout(r, 100));
  }
  await proc.stop();
  throw new Error(`${name} not ready within ${timeoutMs} ms:\n${out.slice(-2000)}`);
}

/** Kills every child still running (runner exit, errors, signals). */
export function killAll() {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => (killAll(), process.exit(130)));

/** Resident set size of a process in KiB (from /proc). */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

const TICK = 100; // USER_HZ on Linux
/** CPU seconds (user + system) used so far by a process. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return NaN;
  }
}

/** Measures CPU of the load generator (this process) and the servers over a window. */
export function cpuWindow(serverPids) {
  const t0 = performance.now();
  const self0 = process.cpuUsage();
  const srv0 = serverPids.map(cpuSeconds);
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(self0);
    const srv = serverPids.map((p, i) => cpuSeconds(p) - srv0[i]);
    return {
      loadgenCpuPct: Math.round(((self.user + self.system) / 1e6 / wall) * 100),
      serverCpuPct: srv.map((s) => Math.round((s / wall) * 100)),
    };
  };
}
