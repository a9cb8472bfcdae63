// Validates the bench load generator's hand-written WebSocket / Engine.IO / Socket.IO framing
// against a real gateway process and the reference socket.io-client. No timing assertions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { ask, client, closeAll, connected, nextEvent, sleep } from "../support/clients.js";
import { signToken, TEST_SECRET } from "../support/tokens.js";
// @ts-expect-error plain .mjs modules of the bench, without type declarations
import { openSio, signJwt } from "../bench/loadgen/sio.mjs";
// @ts-expect-error idem
import { socketIoProtocol } from "../bench/loadgen/protocols.mjs";
// @ts-expect-error idem
import { fanout, echo } from "../bench/loadgen/scenarios.mjs";

interface RawClient {
  sid: string | null;
  connected: boolean;
  request(event: string, data: unknown, timeoutMs?: number): Promise<Record<string, unknown>>;
  emitRaw(json: string, cb?: (buf: Buffer | null, s: number, e: number) => void): void;
  close(): void;
}

let gw: GatewayProcess;
const opened: RawClient[] = [];

beforeAll(async () => {
  gw = await startGatewayProcess({
    env: { PING_INTERVAL_MS: "1000", PING_TIMEOUT_MS: "1000", RATE_LIMIT_EVENTS_PER_S: "10000", RATE_LIMIT_BURST: "10000", MAX_BODY_BYTES: "131072" },
  });
});
afterAll(async () => {
  for (const c of opened) c.close();
  closeAll();
  await gw?.stop();
});

async function raw(sub: string, onEvent?: (payload: unknown[]) => void): Promise<RawClient> {
  const c = (await openSio(
    "127.0.0.1",
    gw.port,
    { token: signJwt(TEST_SECRET, sub) },
    {
      onEvent: onEvent ? (buf: Buffer, s: number, e: number) => onEvent(JSON.parse(buf.toString("utf8", s, e)) as unknown[]) : undefined,
    },
  )) as RawClient;
  opened.push(c);
  return c;
}

describe("bench load generator wire formats", () => {
  it("completes the Engine.IO open and Socket.IO CONNECT with a JWT the gateway accepts", async () => {
    const c = await raw("lg-a");
    expect(c.connected).toBe(true);
    expect(typeof c.sid).toBe("string");
  });

  it("surfaces CONNECT_ERROR data (the refusal code) for a bad token", async () => {
    await expect(openSio("127.0.0.1", gw.port, { token: "not-a-jwt" }, {})).rejects.toMatchObject({ data: { code: "AUTH_INVALID" } });
  });

  it("sends events with acks that the gateway parses, and decodes the ack", async () => {
    const c = await raw("lg-b");
    const joined = await c.request("room:join", { room: "lg-room-1" });
    expect(joined).toMatchObject({ ok: true, room: "lg-room-1" });
    const sent = await c.request("message:send", { room: "lg-room-1", body: { hello: "wörld ✓", n: 1 } });
    expect(sent).toMatchObject({ ok: true });
    expect(typeof sent.id).toBe("string");
  });

  it("loadgen -> socket.io-client: a message sent by the raw client reaches a reference client intact", async () => {
    const ref = await connected(client(gw.url, { token: await signToken("lg-ref1") }));
    expect(await ask(ref, "room:join", { room: "lg-room-2" })).toMatchObject({ ok: true });
    const c = await raw("lg-c");
    await c.request("room:join", { room: "lg-room-2" });
    // > 64 KiB: exercises the 64-bit length frame (MAX_BODY_BYTES is raised for this gateway).
    const body = { text: "x".repeat(70_000), emoji: "🚀" };
    const got = nextEvent<{ body: unknown; from: string }>(ref, "message");
    await c.request("message:send", { room: "lg-room-2", body });
    const msg = await got;
    expect(msg.body).toEqual(body);
    expect(msg.from).toBe("lg-c");
  });

  it("socket.io-client -> loadgen: the raw client decodes an event frame the reference client caused", async () => {
    const events: unknown[][] = [];
    const c = await raw("lg-d", (p) => p[0] === "message" && events.push(p));
    await c.request("room:join", { room: "lg-room-3" });
    const ref = await connected(client(gw.url, { token: await signToken("lg-ref2") }));
    await ask(ref, "room:join", { room: "lg-room-3" });
    const body = { text: "y".repeat(300), arr: [1, 2, 3] }; // > 125 bytes: 16-bit length frame
    await ask(ref, "message:send", { room: "lg-room-3", body });
    for (let i = 0; i < 50 && events.length === 0; i++) await sleep(20);
    expect(events[0]?.[0]).toBe("message");
    expect((events[0]?.[1] as { body: unknown }).body).toEqual(body);
  });

  it("answers Engine.IO pings so the gateway keeps the connection past pingInterval + pingTimeout", async () => {
    const c = await raw("lg-e");
    await sleep(2600);
    expect(c.connected).toBe(true);
    expect(await c.request("room:join", { room: "lg-room-4" })).toMatchObject({ ok: true });
  });

  it("runs the fan-out and echo scenarios end to end without loss, and accounts for every delivery", async () => {
    const proto = socketIoProtocol({ jwtSecret: TEST_SECRET });
    const f = await fanout(proto, [{ port: gw.port }], { subs: 20, rate: 50, durationMs: 400, kind: "except", drainMs: 3000 });
    expect(f.subscribers).toBe(20);
    expect(f.sent).toBe(20);
    expect(f.acked).toBe(20);
    expect(f.delivered).toBe(f.sent * 20);
    expect(f.lost).toBe(0);
    expect(f.accounting).toMatchObject({ offered: f.sent * 20, delivered: f.sent * 20, closedSubscribers: 0, missingAtOpenSubscribers: 0, holes: 0 });
    const e = await echo(proto, [{ port: gw.port }], { clients: 3, durationMs: 300 });
    expect(e.clients).toBe(3);
    expect(e.errors).toBe(0);
    // Acks came back: at least one round trip per client (a gateway that never acked would give 0).
    expect(e.opsPerS * 0.3, "acked echo round trips").toBeGreaterThanOrEqual(3);
    expect(e.latencyMs.samples, "latency samples").toBeGreaterThanOrEqual(3);
  });
});

describe("native sender-excluded broadcast (src/transport/native-broadcast.ts, wired in gateway.ts)", () => {
  let native: GatewayProcess;
  beforeAll(async () => {
    native = await startGatewayProcess({});
  });
  afterAll(async () => {
    closeAll();
    await native?.stop();
  });

  it("delivers socket.to(room) once to every other member (WebSocket and polling) and never to the sender", async () => {
    const room = "nb-room";
    const sender = await connected(client(native.url, { token: await signToken("nb-sender") }));
    const wsPeer = await connected(client(native.url, { token: await signToken("nb-ws") }));
    const pollPeer = await connected(client(native.url, { token: await signToken("nb-poll") }, { transports: ["polling"] }));
    const outsider = await connected(client(native.url, { token: await signToken("nb-out") }));
    for (const s of [sender, wsPeer, pollPeer]) expect(await ask(s, "room:join", { room })).toMatchObject({ ok: true });
    const got = new Map<string, unknown[]>();
    for (const [name, s] of [
      ["sender", sender],
      ["ws", wsPeer],
      ["poll", pollPeer],
      ["outsider", outsider],
    ] as const) {
      got.set(name, []);
      s.on("message", (m: { body: unknown }) => got.get(name)!.push(m.body));
    }
    for (let i = 0; i < 3; i++) expect(await ask(sender, "message:send", { room, body: { i } })).toMatchObject({ ok: true });
    for (let i = 0; i < 100 && (got.get("ws")!.length < 3 || got.get("poll")!.length < 3); i++) await sleep(20);
    await sleep(200);
    expect(got.get("ws")).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
    expect(got.get("poll")).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
    expect(got.get("sender")).toEqual([]);
    expect(got.get("outsider")).toEqual([]);
    // A polling sender: not subscribed to uWS topics, so the WebSocket members get it app-wide, the sender does not.
    expect(await ask(pollPeer, "message:send", { room, body: "from-poll" })).toMatchObject({ ok: true });
    for (let i = 0; i < 100 && !got.get("sender")!.includes("from-poll"); i++) await sleep(20);
    await sleep(200);
    expect(got.get("sender")).toEqual(["from-poll"]);
    expect(got.get("ws")!.filter((b) => b === "from-poll")).toHaveLength(1);
    expect(got.get("poll")!.filter((b) => b === "from-poll")).toHaveLength(0);
  });
});
