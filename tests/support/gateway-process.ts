// Runs the real gateway (node dist/main.js) as a child process on free ports, the way a pod runs it.
// `npm test` builds dist/ first (pretest); a test that finds no build fails with that hint.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { freePort } from "./ports.js";
import { TEST_API_KEY, TEST_SECRET } from "./tokens.js";

export const MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export interface GatewayProcess {
  port: number;
  opsPort: number;
  url: string;
  opsUrl: string;
  child: ChildProcess;
  logs: LogLine[];
  stderr: string[];
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  signal(sig: NodeJS.Signals): void;
  stop(): Promise<number | string>;
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  args?: string[];
  /** Do not wait for the listening line (for start-up failure tests). */
  expectFailure?: boolean;
  timeoutMs?: number;
  /**
   * Start it through a wrapper instead of `node dist/main.js` on this host (the runtime tier: the
   * production root filesystem). `signalTarget` names the pid that must receive signals when the
   * wrapper itself does not forward them (unshare --fork).
   */
  launch?: { command: string; args: string[]; signalTarget?: (child: ChildProcess) => number };
}

/**
 * SOCKETGATE_TEST_RUNTIME=rootfs starts every gateway of the test file in the runtime tier's production
 * root filesystem (Node 24, current uWS build; tests/runtime/production-rootfs.mjs; root only), so
 * integration suites run unchanged against the image's combination (tests/runtime/integration-in-rootfs.test.ts).
 */
let rootfsLaunch: Promise<NonNullable<StartOptions["launch"]>> | undefined;
function productionRootfsLaunch(): Promise<NonNullable<StartOptions["launch"]>> {
  rootfsLaunch ??= import("../runtime/production-rootfs.mjs").then((m) => {
    const prod = m.prepareProductionRoot();
    process.once("exit", () => m.removeApp(prod));
    return m.productionLaunch(prod);
  });
  return rootfsLaunch;
}

export async function startGatewayProcess(opts: StartOptions = {}): Promise<GatewayProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (npm test does it in pretest)`);
  if (!opts.launch && process.env.SOCKETGATE_TEST_RUNTIME === "rootfs")
    opts = { ...opts, launch: await productionRootfsLaunch(), env: { HOME: "/tmp", ...opts.env } };
  const port = await freePort();
  const opsPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: String(port),
    OPS_PORT: String(opsPort),
    JWT_SECRET: TEST_SECRET,
    API_KEYS: TEST_API_KEY,
    LOG_LEVEL: "info",
    DRAIN_DELAY_MS: "100",
    DRAIN_WINDOW_MS: "500",
    ...opts.env,
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const [command, args] = opts.launch ? [opts.launch.command, opts.launch.args] : [process.execPath, [MAIN, ...(opts.args ?? [])]];
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  let buf = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { level: "raw", msg: line };
      }
      logs.push(parsed);
      for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.pred(parsed)) waiters.splice(i, 1)[0]!.resolve(parsed);
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => stderr.push(chunk));
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, sig) => resolve(code ?? sig ?? "unknown")));

  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 10_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const hit = logs.find(pred);
      if (hit) return resolve(hit);
      const timer = setTimeout(() => reject(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${stderr.join("")}`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });

  const gw: GatewayProcess = {
    port,
    opsPort,
    url: `http://127.0.0.1:${port}`,
    opsUrl: `http://127.0.0.1:${opsPort}`,
    child,
    logs,
    stderr,
    exited,
    signal: (sig) => (opts.launch?.signalTarget ? process.kill(opts.launch.signalTarget(child), sig) : child.kill(sig)),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        // A launcher's real process (tini as PID 1 of its own PID namespace) first: unshare's --kill-child
        // death signal does not survive setpriv's uid change, so killing only the launcher left the gateway
        // running. PID 1 of a namespace takes everything inside with it.
        if (opts.launch?.signalTarget) {
          const target = opts.launch.signalTarget(child);
          if (target !== child.pid) killQuietly(target);
        }
        child.kill("SIGKILL");
      }
      return exited;
    },
    waitForLog,
  };
  if (!opts.expectFailure) {
    try {
      await Promise.race([
        waitForLog((l) => l.msg === "socketgate listening", opts.timeoutMs ?? 15_000),
        exited.then((code) => {
          throw new Error(`gateway exited with ${code} before listening: ${stderr.join("")}`);
        }),
      ]);
    } catch (err) {
      // A gateway that never said "listening" is nobody's to stop: the caller only gets the error.
      // Kill it here so a slow start does not leave an orphan holding ports (and CPU) for the rest of the run.
      await gw.stop();
      throw err;
    }
  }
  return gw;
}

export { TEST_API_KEY, TEST_SECRET };

/** SIGKILL that tolerates a process already gone. */
function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // ESRCH: it exited on its own meanwhile.
  }
}
