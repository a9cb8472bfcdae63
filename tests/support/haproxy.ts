// HAProxy in front of gateway processes, following each pod's /readyz the way a Kubernetes Service
// follows readiness: runs /usr/sbin/haproxy in the foreground (-db) as a child, with a generated
// config in tests/.tmp/<unique>/, and drives it through its admin socket (server slots, states).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { freePort } from "./ports.js";

export const HAPROXY_BIN = process.env.HAPROXY_BIN ?? "/usr/sbin/haproxy";
const TMP_ROOT = fileURLToPath(new URL("../.tmp/", import.meta.url));

export interface BackendTarget {
  host?: string;
  port: number;
  opsPort: number;
}

export interface HaproxyOptions {
  /** Gateways present from the start (slots gw1..gwN). */
  servers: BackendTarget[];
  /** Extra disabled slots for gateways added later (rolling restarts). Default 4. */
  spareSlots?: number;
  /** Insert a SERVERID cookie for stickiness (needed by HTTP long-polling across several pods). */
  cookie?: boolean;
  /** Health check interval; fall 1 / rise 2 as in the e2e design. */
  checkInterMs?: number;
  /**
   * How long one check waits for /readyz (default 2000 ms, like a readiness probe's timeoutSeconds).
   * HAProxy's default is the interval: on a busy machine one slow answer would mark a healthy pod
   * DOWN (fall 1), and cookie-sticky polling sessions on it would break.
   */
  checkTimeoutMs?: number;
  maxconn?: number;
  /** Load-balancing algorithm (default leastconn); roundrobin and random model what a Kubernetes Service does. */
  balance?: "leastconn" | "roundrobin" | "random";
}

export interface ServerStat {
  name: string;
  /** UP, DOWN, MAINT, "UP 1/2", "DOWN 1/2", ... as in `show stat`. */
  status: string;
  /** Current sessions (established connections, WebSockets included). */
  scur: number;
  /** Cumulative sessions. */
  stot: number;
  /** Failed connection attempts to this server (e.g. to a closed listener). */
  econ: number;
  /** Retries and redispatches (0 unless `retries` / `option redispatch` are configured). */
  wretr: number;
}

export interface Haproxy {
  /** Frontend address clients connect to. */
  url: string;
  port: number;
  dir: string;
  child: ChildProcess;
  output: string[];
  /** Slot name of each target, in order of addition. */
  slotOf(target: BackendTarget): string | undefined;
  admin(command: string): Promise<string>;
  stats(): Promise<Map<string, ServerStat>>;
  /** Puts a target into a free slot and enables it; resolves the slot name (health checks then decide UP). */
  add(target: BackendTarget): Promise<string>;
  /** Puts the target's slot into maintenance and frees it. */
  remove(target: BackendTarget): Promise<void>;
  waitFor(target: BackendTarget, want: "UP" | "DOWN", timeoutMs?: number): Promise<number>;
  /** Server state changes HAProxy reported ("Server gateways/gw2 is DOWN, reason: ..."), in order. */
  stateChanges(): string[];
  stop(): Promise<void>;
}

const BACKEND = "gateways";

export function haproxyConfig(o: {
  port: number;
  socketPath: string;
  slots: Array<{ name: string; target?: BackendTarget }>;
  cookie: boolean;
  interMs: number;
  checkTimeoutMs: number;
  maxconn: number;
  balance?: "leastconn" | "roundrobin" | "random";
}): string {
  const servers = o.slots.map(({ name, target }) => {
    const addr = target ? `${target.host ?? "127.0.0.1"}:${target.port}` : "127.0.0.1:9";
    const check = `check port ${target?.opsPort ?? 9}`;
    const cookie = o.cookie ? ` cookie ${name}` : "";
    return `  server ${name} ${addr} ${check}${cookie}${target ? "" : " disabled"}`;
  });
  return [
    "global",
    `  maxconn ${o.maxconn}`,
    `  stats socket ${o.socketPath} mode 600 level admin`,
    "  hard-stop-after 5s",
    "",
    "defaults",
    "  mode http",
    `  maxconn ${o.maxconn}`,
    "  timeout connect 2s",
    "  timeout client 60s",
    "  timeout server 60s",
    // WebSockets live in the tunnel state after the upgrade: keep them as long as the test needs.
    "  timeout tunnel 1h",
    `  timeout check ${o.checkTimeoutMs}ms`,
    "  timeout http-keep-alive 5s",
    "  option http-keep-alive",
    "",
    "frontend fe",
    `  bind 127.0.0.1:${o.port}`,
    `  default_backend ${BACKEND}`,
    "",
    `backend ${BACKEND}`,
    `  balance ${o.balance ?? "leastconn"}`,
    "  option httpchk GET /readyz",
    "  http-check expect status 200",
    // Not `on-marked-down shutdown-sessions`: a draining gateway closes its sessions itself, spread out.
    `  default-server inter ${o.interMs}ms fastinter ${o.interMs}ms downinter ${o.interMs}ms fall 1 rise 2`,
    ...(o.cookie ? ["  cookie SERVERID insert indirect nocache"] : []),
    ...servers,
    "",
  ].join("\n");
}

export async function startHaproxy(opts: HaproxyOptions): Promise<Haproxy> {
  if (!existsSync(HAPROXY_BIN)) throw new Error(`${HAPROXY_BIN} is missing: apt-get install haproxy (npm test's pretest does it)`);
  const port = await freePort();
  const dir = `${TMP_ROOT}haproxy-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  mkdirSync(dir, { recursive: true });
  const socketPath = `${dir}/admin.sock`;
  const spare = opts.spareSlots ?? 4;
  const slots: Array<{ name: string; target?: BackendTarget }> = [
    ...opts.servers.map((target, i) => ({ name: `gw${i + 1}`, target })),
    ...Array.from({ length: spare }, (_, i) => ({ name: `gw${opts.servers.length + i + 1}` })),
  ];
  const cfg = haproxyConfig({
    port,
    socketPath,
    slots,
    cookie: opts.cookie ?? false,
    interMs: opts.checkInterMs ?? 250,
    checkTimeoutMs: opts.checkTimeoutMs ?? 2000,
    maxconn: opts.maxconn ?? 9000,
    balance: opts.balance,
  });
  const cfgPath = `${dir}/haproxy.cfg`;
  writeFileSync(cfgPath, cfg);

  const check = spawn(HAPROXY_BIN, ["-c", "-f", cfgPath], { stdio: ["ignore", "pipe", "pipe"] });
  let checkOut = "";
  check.stdout!.on("data", (d: Buffer) => (checkOut += d));
  check.stderr!.on("data", (d: Buffer) => (checkOut += d));
  const checkCode = await new Promise<number | null>((r) => check.once("exit", r));
  if (checkCode !== 0) throw new Error(`haproxy rejected its config (${cfgPath}):\n${checkOut}`);

  const child = spawn(HAPROXY_BIN, ["-db", "-f", cfgPath], { stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  child.stdout!.setEncoding("utf8").on("data", (d: string) => output.push(d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => output.push(d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));

  const admin = (command: string) =>
    new Promise<string>((resolve, reject) => {
      const sock = connect(socketPath);
      let out = "";
      sock.setEncoding("utf8");
      sock.setTimeout(5000, () => sock.destroy(new Error(`haproxy admin timeout: ${command}`)));
      sock.on("data", (d: string) => (out += d));
      sock.once("error", reject);
      sock.once("close", () => resolve(out));
      sock.end(`${command}\n`);
    });

  const stats = async () => {
    const csv = await admin("show stat");
    const lines = csv.split("\n").filter((l) => l.length > 0);
    const header = lines[0]!.replace(/^# /, "").split(",");
    const col = (n: string) => header.indexOf(n);
    const out = new Map<string, ServerStat>();
    for (const line of lines.slice(1)) {
      const f = line.split(",");
      if (f[col("pxname")] !== BACKEND || ["BACKEND", "FRONTEND"].includes(f[col("svname")]!)) continue;
      out.set(f[col("svname")]!, {
        name: f[col("svname")]!,
        status: f[col("status")]!,
        scur: Number(f[col("scur")]),
        stot: Number(f[col("stot")]),
        econ: Number(f[col("econ")] || 0),
        wretr: Number(f[col("wretr")] || 0),
      });
    }
    return out;
  };

  // Wait until the admin socket answers: haproxy is up and bound.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await stats()).size === slots.length) break;
    } catch {
      /* not yet */
    }
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}: ${output.join("")}`);
    if (Date.now() > deadline) throw new Error(`haproxy did not start: ${output.join("")}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  const key = (t: BackendTarget) => `${t.host ?? "127.0.0.1"}:${t.port}`;
  const assigned = new Map<string, string>(opts.servers.map((t, i) => [key(t), `gw${i + 1}`]));
  const slotOf = (t: BackendTarget) => assigned.get(key(t));

  const expectOk = (cmd: string, answer: string) => {
    const a = answer.trim();
    if (a.length > 0 && !/^(IP changed|no need to change|Health check port updated|port changed|.*changed from)/i.test(a))
      throw new Error(`haproxy refused "${cmd}": ${a}`);
  };

  const hp: Haproxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    child,
    output,
    slotOf,
    admin,
    stats,
    add: async (t) => {
      const used = new Set(assigned.values());
      const free = slots.find((s) => !used.has(s.name));
      if (!free) throw new Error("no free haproxy slot: raise spareSlots");
      assigned.set(key(t), free.name);
      const srv = `${BACKEND}/${free.name}`;
      for (const cmd of [
        `set server ${srv} state maint`,
        `set server ${srv} addr ${t.host ?? "127.0.0.1"} port ${t.port}`,
        `set server ${srv} check-port ${t.opsPort}`,
        `enable health ${srv}`,
        // Leaving maintenance would mark it UP at once; like a new pod, it must pass `rise` readiness checks
        // first. One line: HAProxy runs both before routing anything in between.
        `set server ${srv} state ready; set server ${srv} health down`,
      ])
        expectOk(cmd, await admin(cmd));
      return free.name;
    },
    remove: async (t) => {
      const name = slotOf(t);
      if (!name) return;
      await admin(`set server ${BACKEND}/${name} state maint`);
      assigned.delete(key(t));
    },
    waitFor: async (t, want, timeoutMs = 10_000) => {
      const name = slotOf(t);
      if (!name) throw new Error(`target ${key(t)} has no haproxy slot`);
      const started = Date.now();
      for (;;) {
        const st = (await stats()).get(name);
        // "UP 1/2" is still down-going-up; "DOWN 1/2" is up-going-down: only settled states count.
        if (st && st.status === want) return Date.now() - started;
        if (Date.now() - started > timeoutMs) throw new Error(`haproxy server ${name} not ${want} within ${timeoutMs} ms (status ${st?.status})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stateChanges: () =>
      output
        .join("")
        .split("\n")
        .filter((l) => /Server \S+ is (UP|DOWN)/.test(l))
        .map((l) => l.replace(/^.*?(Server \S+ is)/, "$1").trim()),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return hp;
}
