// Raw wire tools for hardening tests: Engine.IO over WebSocket and long-polling, raw TCP, and the
// checks every hardening test repeats (process alive, no error logs, no stack traces in answers).
import { request } from "node:http";
import { connect as tcpConnect, type Socket as TcpSocket } from "node:net";
import WebSocket from "ws";
import type { GatewayProcess } from "./gateway-process.js";
import { ask, client, connected, type Client } from "./clients.js";
import { metricValue, scrape } from "./metrics.js";
import { signToken } from "./tokens.js";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A raw Engine.IO v4 WebSocket connection: every frame is queued so a test can wait for the one it wants. */
export class RawSocket {
  readonly ws: WebSocket;
  readonly frames: string[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: Array<() => void> = [];
  readonly opened: Promise<void>;

  constructor(url: string, opts: { headers?: Record<string, string>; maxPayload?: number } = {}) {
    const wsUrl = `${url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`;
    this.ws = new WebSocket(wsUrl, { headers: opts.headers, maxPayload: opts.maxPayload ?? 64 * 1024 * 1024 });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
      this.ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)));
    });
    this.opened.catch(() => {});
    this.ws.on("error", () => {});
    this.ws.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
      this.frames.push(isBinary ? `<binary ${(data as Buffer).length}>` : data.toString());
      // Answer Engine.IO pings so a long test is never cut by the heartbeat.
      if (!isBinary && data.toString() === "2" && this.ws.readyState === WebSocket.OPEN) this.ws.send("3");
      this.wake();
    });
    this.ws.on("close", (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  send(data: string | Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
  }

  /** Waits for (and removes) the first frame matching pred; undefined on close or timeout. */
  async next(pred: (f: string) => boolean, timeoutMs = 5000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.closed || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string } | undefined> {
    return this.next(() => false, timeoutMs).then(() => this.closed);
  }

  /** Engine.IO open + Socket.IO CONNECT with `auth`: the CONNECT answer ("40{sid}" or "44{error}") or undefined. */
  async handshake(auth: unknown, timeoutMs = 5000): Promise<string | undefined> {
    await this.opened;
    const open = await this.next((f) => f.startsWith("0"), timeoutMs);
    if (!open) return undefined;
    this.send(`40${JSON.stringify(auth)}`);
    return this.next((f) => f.startsWith("40") || f.startsWith("44"), timeoutMs);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close(): void {
    try {
      this.ws.terminate();
    } catch {
      /* already gone */
    }
  }
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with full control over headers (fetch forbids Origin, Host, ...); never hangs past timeoutMs. */
export function http(
  url: string,
  opts: { method?: string; headers?: Record<string, string | number>; body?: string | Buffer; timeoutMs?: number; path?: string } = {},
): Promise<HttpAnswer | { error: string }> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = request(
      { host: u.hostname, port: u.port, method: opts.method ?? "GET", path: opts.path ?? `${u.pathname}${u.search}`, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", (e) => resolve({ error: e.message }));
      },
    );
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ error: e.message }));
    req.end(opts.body);
  });
}

/** Engine.IO long-polling handshake: the sid, or undefined with the answer when refused. */
export async function pollingOpen(url: string, headers: Record<string, string> = {}): Promise<{ sid?: string; answer: HttpAnswer | { error: string } }> {
  const answer = await http(`${url}/socket.io/?EIO=4&transport=polling`, { headers });
  if ("error" in answer || answer.status !== 200 || !answer.body.startsWith("0")) return { answer };
  const sid = (JSON.parse(answer.body.slice(1)) as { sid: string }).sid;
  return { sid, answer };
}

export const pollUrl = (url: string, sid: string) => `${url}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;

/** Raw TCP: for slow-loris and hand-made frames. */
export function tcp(port: number): Promise<TcpSocket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
}

/** Resolves when the peer closes (end or reset) with how long it took, or undefined after timeoutMs. */
export function tcpClosed(s: TcpSocket, timeoutMs: number): Promise<{ afterMs: number; data: string } | undefined> {
  const started = Date.now();
  let data = "";
  s.on("data", (c: Buffer) => (data += c.toString("latin1")));
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), timeoutMs);
    const done = () => (clearTimeout(t), resolve({ afterMs: Date.now() - started, data }));
    s.once("close", done);
    s.once("error", () => {});
  });
}

/** Counter deltas: snapshot now, read the difference later. */
export async function metricsSnapshot(gw: GatewayProcess): Promise<(name: string, labels?: Record<string, string>) => Promise<number>> {
  const before = await scrape(gw.opsUrl);
  return async (name, labels = {}) => {
    const after = await scrape(gw.opsUrl);
    return (metricValue(after, name, labels) ?? 0) - (metricValue(before, name, labels) ?? 0);
  };
}

/** Text that must never reach a client: stack frames, file paths, internal error names. */
export const LEAK_PATTERN =
  /(\n\s+at\s|\bat\s+[\w.<>]+\s+\(|node:internal|\/work\/|\/dist\/|\.ts:\d|\.js:\d|TypeError|ReferenceError|SyntaxError|RangeError|ZodError|Cannot read prop)/;

export function assertNoLeak(text: string, where: string): void {
  if (LEAK_PATTERN.test(text)) throw new Error(`internal detail leaked in ${where}: ${text.slice(0, 300)}`);
}

/** Log lines at error/fatal level, and any uncaught-exception / unhandled-rejection line. */
export function badLogs(gw: GatewayProcess): string[] {
  return gw.logs
    .filter((l) => l.level === "error" || l.level === "fatal" || /uncaught|unhandled/i.test(String(l.msg)))
    .map((l) => JSON.stringify(l).slice(0, 400));
}

export function alive(gw: GatewayProcess): boolean {
  return gw.child.exitCode === null && gw.child.signalCode === null;
}

/** The gateway still answers on both listeners. */
export async function healthy(gw: GatewayProcess): Promise<boolean> {
  const a = await http(`${gw.url}/health`);
  const b = await http(`${gw.opsUrl}/healthz`);
  return alive(gw) && !("error" in a) && a.status === 200 && !("error" in b) && b.status === 200;
}

/**
 * Well-behaved sockets running beside an attack: a WebSocket sender and a polling receiver in one
 * room, one message every `everyMs`. stop() reports what was sent, acknowledged, received and lost.
 */
export async function startBystanders(gw: GatewayProcess, everyMs = 50) {
  const room = `calm:${Math.random().toString(36).slice(2, 8)}`;
  const sender = await connected(client(gw.url, { token: await signToken("calm-sender") }));
  const receiver = await connected(client(gw.url, { token: await signToken("calm-receiver") }, { transports: ["polling"] }));
  for (const s of [sender, receiver]) {
    const a = await ask(s, "room:join", { room });
    if (a.ok !== true) throw new Error(`bystander join failed: ${JSON.stringify(a)}`);
  }
  const disconnects: string[] = [];
  for (const s of [sender, receiver]) s.on("disconnect", (r) => disconnects.push(r));
  const received = new Set<string>();
  receiver.on("message", (m: { id: string }) => received.add(m.id));
  const acked: string[] = [];
  let failures = 0;
  let sent = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      sent++;
      try {
        const a = await ask<{ ok: boolean; id: string }>(sender, "message:send", { room, body: { n: sent } }, 10_000);
        if (a.ok) acked.push(a.id);
        else failures++;
      } catch {
        failures++;
      }
      await sleep(everyMs);
    }
  })();
  return {
    sockets: [sender, receiver] as Client[],
    async stop() {
      running = false;
      await loop;
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && acked.some((id) => !received.has(id))) await sleep(50);
      const lost = acked.filter((id) => !received.has(id));
      const seenDisconnects = [...disconnects];
      sender.close();
      receiver.close();
      return { sent, acked: acked.length, received: received.size, lost: lost.length, failures, disconnects: seenDisconnects };
    },
  };
}
