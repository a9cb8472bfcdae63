/// <reference lib="dom" />
// A real browser: Debian chromium driven by playwright-core. A page served by this test loads the real
// socket.io-client bundle and talks to the gateway cross-origin over long-polling and WebSocket; then
// the demo page (DEMO=1) shows messages, typing and presence between two tabs. Both survive a drain:
// the gateway is replaced on the same port and the clients reconnect and rejoin by themselves.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { freePort } from "../support/ports.js";
import { signToken } from "../support/tokens.js";

const CHROMIUM = "/usr/bin/chromium";
const require = createRequire(import.meta.url);
const BUNDLE = readFileSync(join(require.resolve("socket.io-client/package.json"), "..", "dist", "socket.io.min.js"));

const TEST_PAGE = `<!doctype html><meta charset="utf-8"><title>socketgate browser test</title>
<script src="/socket.io.min.js"></script>
<script>
  // Two clients: one pinned to long-polling, one WebSocket-only. Each rejoins its room on every connect.
  window.log = [];
  window.clients = {};
  window.start = (url, name, token, transports, room) => {
    const s = io(url, { auth: { token }, transports, upgrade: transports.length > 1, reconnectionDelay: 200, reconnectionDelayMax: 1000 });
    const c = { s, connects: 0, joined: 0, received: [], draining: 0, transports: [] };
    window.clients[name] = c;
    s.on("connect", async () => {
      c.connects++;
      c.transports.push(s.io.engine.transport.name);
      const a = await s.timeout(5000).emitWithAck("room:join", { room });
      if (a.ok) c.joined = c.connects;
    });
    s.on("message", (m) => c.received.push(m.body));
    s.on("gateway:draining", () => c.draining++);
    s.on("connect_error", (e) => window.log.push(name + " connect_error " + e.message));
  };
  window.send = async (name, room, body) => {
    const a = await window.clients[name].s.timeout(5000).emitWithAck("message:send", { room, body });
    return a.ok;
  };
</script>`;

let gateway: GatewayProcess;
let gatewayPort: number;
let pageServer: Server;
let pageOrigin: string;
let context: BrowserContext;
let profile: string;

async function startGateway(): Promise<GatewayProcess> {
  return startGatewayProcess({
    env: { PORT: String(gatewayPort), DEMO: "1", CORS_ORIGINS: pageOrigin, DRAIN_DELAY_MS: "100", DRAIN_WINDOW_MS: "400", PRESENCE_GRACE_MS: "500" },
  });
}

/** SIGTERM the gateway, wait for its clean exit, start a fresh one on the same port (a rolling restart). */
async function drainAndReplace(): Promise<void> {
  gateway.signal("SIGTERM");
  expect(await gateway.exited).toBe(0);
  gateway = await startGateway();
}

/** Waits for a condition in the page; a plain function (not a string) so it also runs under the demo's CSP. */
async function waitFor<A>(page: Page, fn: (arg: A) => unknown, arg: A, what: string, timeoutMs = 15_000): Promise<void> {
  try {
    await page.waitForFunction(fn as (a: unknown) => unknown, arg as unknown, { timeout: timeoutMs, polling: 100 });
  } catch (err) {
    const state = await page.evaluate(() => {
      const w = window as unknown as { clients?: Record<string, Record<string, unknown>>; log?: unknown; demoState?: unknown };
      const clients = Object.fromEntries(Object.entries(w.clients ?? {}).map(([k, c]) => [k, { ...c, s: undefined }]));
      return JSON.stringify({ clients, log: w.log, demo: w.demoState, text: document.body.innerText.slice(-600) });
    });
    throw new Error(`${what}: ${(err as Error).message.split("\n")[0]}; page state ${state}`, { cause: err });
  }
}

type W = Window & {
  clients: Record<string, { joined: number; connects: number; draining: number; received: unknown[] }>;
  demoState: { joined: boolean; connects: number; transport: string };
};

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  const pagePort = await freePort();
  pageOrigin = `http://127.0.0.1:${pagePort}`;
  pageServer = createServer((req, res) => {
    if (req.url === "/socket.io.min.js") return res.writeHead(200, { "content-type": "text/javascript" }).end(BUNDLE);
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(TEST_PAGE);
  });
  await new Promise<void>((r) => pageServer.listen(pagePort, "127.0.0.1", r));
  gatewayPort = await freePort();
  gateway = await startGateway();
  profile = mkdtempSync(join(tmpdir(), "sg-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  await gateway?.stop();
  await new Promise<void>((r) => (pageServer ? pageServer.close(() => r()) : r()));
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe("real browser (chromium)", () => {
  it("connects cross-origin over long-polling and WebSocket, exchanges messages, and reconnects after a drain", { timeout: 60_000 }, async () => {
    const page = await context.newPage();
    await page.goto(`${pageOrigin}/`);
    const room = "web:1";
    const url = `http://127.0.0.1:${gatewayPort}`;
    await page.evaluate(
      ([u, ta, tb, r]) => {
        const w = window as unknown as { start: (...a: unknown[]) => void };
        w.start(u, "poll", ta, ["polling"], r);
        w.start(u, "ws", tb, ["websocket"], r);
      },
      [url, await signToken("browser-poll"), await signToken("browser-ws"), room] as const,
    );
    const joined = (n: number) => (window as unknown as W).clients.poll?.joined === n && (window as unknown as W).clients.ws?.joined === n;
    await waitFor(page, joined, 1, "both clients joined");
    const transports = await page.evaluate(() => {
      const c = (window as unknown as { clients: Record<string, { s: { io: { engine: { transport: { name: string } } } } }> }).clients;
      return [c.poll!.s.io.engine.transport.name, c.ws!.s.io.engine.transport.name];
    });
    expect(transports).toEqual(["polling", "websocket"]);

    const send = (name: string, body: string) =>
      page.evaluate(([n, r, b]) => (window as unknown as { send: (n: string, r: string, b: string) => Promise<boolean> }).send(n, r, b), [
        name,
        room,
        body,
      ] as const);
    const received = ([name, body]: [string, string]) => (window as unknown as W).clients[name]!.received.includes(body);
    expect(await send("poll", "from polling")).toBe(true);
    expect(await send("ws", "from websocket")).toBe(true);
    await waitFor(page, received, ["ws", "from polling"], "polling -> websocket message");
    await waitFor(page, received, ["poll", "from websocket"], "websocket -> polling message");

    await drainAndReplace();
    await waitFor(page, joined, 2, "both clients reconnected and rejoined after the drain", 20_000);
    const draining = await page.evaluate(() => [(window as unknown as W).clients.poll!.draining, (window as unknown as W).clients.ws!.draining]);
    expect(draining).toEqual([1, 1]);
    expect(await send("poll", "after drain")).toBe(true);
    await waitFor(page, received, ["ws", "after drain"], "message after the drain");
    const log = await page.evaluate(() => (window as unknown as { log: string[] }).log);
    console.log(`[hardening] browser: transports ${JSON.stringify(transports)}, reconnect log ${JSON.stringify(log).slice(0, 300)}`);
    await page.close();
  });

  it("runs the demo page between two tabs: presence, typing and messages, and recovers from a drain", { timeout: 60_000 }, async () => {
    const room = "demo:hardening";
    const demo = (n: number) => (window as unknown as W).demoState?.joined === true && (window as unknown as W).demoState.connects === n;
    const text = ([id, needle]: [string, string]) => (document.getElementById(id)?.textContent ?? "").includes(needle);
    const logHas = (line: string) => Array.from(document.querySelectorAll("#log div")).some((d) => d.textContent === line);
    const open = async (user: string, transport: string) => {
      const page = await context.newPage();
      const token = await signToken(user);
      await page.goto(`http://127.0.0.1:${gatewayPort}/demo?token=${encodeURIComponent(token)}&room=${room}&transport=${transport}`);
      await page.click("#connect");
      await waitFor(page, demo, 1, `${user} joined`);
      return page;
    };
    const alice = await open("alice", "websocket");
    const bob = await open("bob", "polling");
    await waitFor(alice, text, ["presence", "bob"], "alice sees bob online");
    await waitFor(bob, text, ["presence", "alice"], "bob sees alice online");
    expect(await bob.evaluate(() => (window as unknown as W).demoState.transport)).toBe("polling");

    await alice.locator("#message").pressSequentially("hello bob", { delay: 10 });
    await waitFor(bob, text, ["typing", "alice is typing"], "bob sees alice typing");
    await alice.press("#message", "Enter");
    await waitFor(bob, logHas, "alice: hello bob", "bob got the message");
    await waitFor(alice, logHas, "me: hello bob", "alice sees her own message");

    await drainAndReplace();
    await waitFor(alice, demo, 2, "alice reconnected after the drain", 20_000);
    await waitFor(bob, demo, 2, "bob reconnected after the drain", 20_000);
    await bob.locator("#message").fill("back again");
    await bob.press("#message", "Enter");
    await waitFor(alice, logHas, "bob: back again", "alice got bob's message after the drain");
    expect(await alice.locator("#status").textContent()).toBe("connected");
    await alice.close();
    await bob.close();
  });

  it("dev mode: the demo page gets its own token, a different user per tab; two tabs talk after one click each", { timeout: 60_000 }, async () => {
    // With key material configured (the gateway above) there is no token endpoint.
    expect((await fetch(`http://127.0.0.1:${gatewayPort}/demo/token`, { method: "POST" })).status).toBe(404);
    const dev = await startGatewayProcess({ env: { JWT_SECRET: undefined, DEMO: "1", PRESENCE_GRACE_MS: "500" } });
    try {
      const room = "demo:dev";
      const joined = () => (window as unknown as W).demoState?.joined === true;
      const text = ([id, needle]: [string, string]) => (document.getElementById(id)?.textContent ?? "").includes(needle);
      const logHas = (line: string) => Array.from(document.querySelectorAll("#log div")).some((d) => d.textContent === line);
      const open = async () => {
        const page = await context.newPage();
        await page.goto(`${dev.url}/demo?room=${room}`);
        expect(await page.inputValue("#token")).toBe("");
        await page.click("#connect");
        await waitFor(page, joined, undefined, "tab joined with its own dev token");
        return { page, userId: (await page.locator("#me").textContent()) ?? "" };
      };
      const a = await open();
      const b = await open();
      expect(a.userId).toMatch(/^demo-[0-9a-f]{8}$/);
      expect(b.userId).toMatch(/^demo-[0-9a-f]{8}$/);
      expect(a.userId).not.toBe(b.userId);
      await waitFor(a.page, text, ["presence", b.userId], "tab A sees tab B's user online");
      await a.page.locator("#message").fill("hello from A");
      await a.page.press("#message", "Enter");
      await waitFor(b.page, logHas, `${a.userId}: hello from A`, "tab B got tab A's message");
      await a.page.close();
      await b.page.close();
    } finally {
      await dev.stop();
    }
  });
});
