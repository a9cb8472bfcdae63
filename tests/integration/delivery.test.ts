// Store, then fan out (src/delivery): a fan-out that fails after a successful store still answers ok,
// is counted, and a retry with the same clientMsgId / idempotencyKey leaves exactly one stored copy.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected } from "../support/clients.js";
import { startGatewayProcess, TEST_API_KEY, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { signToken } from "../support/tokens.js";

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await startGatewayProcess({ env: { SOCKETGATE_TEST_FAULTS: "1" } });
});
afterEach(() => closeAll());
afterAll(async () => {
  await gw?.stop();
});

const publish = (body: unknown) =>
  fetch(`${gw.url}/v1/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> }));

describe("a fan-out failure after the store", () => {
  it("answers ok, counts it, and a retry stores nothing twice (message:send, room and direct)", async () => {
    const sender = await connected(client(gw.url, { token: await signToken("fo-sender") }));
    expect(await ask(sender, "room:join", { room: "fo-room" })).toMatchObject({ ok: true });
    expect(await ask(sender, "test:fail-fanout", { count: 2 })).toMatchObject({ ok: true });

    const first = await ask(sender, "message:send", { room: "fo-room", body: "once", clientMsgId: "fo-1" });
    expect(first).toMatchObject({ ok: true });
    const retry = await ask(sender, "message:send", { room: "fo-room", body: "once", clientMsgId: "fo-1" });
    expect(retry).toMatchObject({ ok: true, id: first.id, duplicate: true });
    const direct = await ask(sender, "message:send", { to: "fo-reader", body: "dm", clientMsgId: "fo-2" });
    expect(direct).toMatchObject({ ok: true });
    expect(await ask(sender, "message:send", { to: "fo-reader", body: "dm", clientMsgId: "fo-2" })).toMatchObject({ ok: true, id: direct.id, duplicate: true });

    const history = await ask<{ messages: Array<{ id: string; body: unknown }> }>(sender, "room:join", { room: "fo-room", since: 0 });
    expect(history.messages.filter((m) => m.body === "once")).toHaveLength(1);
    const reader = await connected(client(gw.url, { token: await signToken("fo-reader") }));
    const unacked = await ask<{ messages: Array<{ id: string; body: unknown }> }>(reader, "message:unacked", {});
    expect(unacked.messages.filter((m) => m.body === "dm")).toHaveLength(1);

    const text = await scrape(gw.opsUrl);
    expect(metricValue(text, "socketgate_fanout_errors_total")).toBe(2);
    expect(gw.logs.filter((l) => l.msg.startsWith("fan-out failed after the message was stored"))).toHaveLength(2);
  });

  it("answers ok for an API publish, and the idempotent retry stores nothing twice", async () => {
    const reader = await connected(client(gw.url, { token: await signToken("fo-api-reader") }));
    expect(await ask(reader, "test:fail-fanout", { count: 1 })).toMatchObject({ ok: true });
    const first = await publish({ userId: "fo-api-reader", event: "message", data: "api-once", idempotencyKey: "fo-api-1" });
    expect(first).toMatchObject({ status: 200, json: { ok: true } });
    const retry = await publish({ userId: "fo-api-reader", event: "message", data: "api-once", idempotencyKey: "fo-api-1" });
    expect(retry).toMatchObject({ status: 200, json: { ok: true, ids: first.json.ids, duplicate: true } });
    const unacked = await ask<{ messages: Array<{ body: unknown }> }>(reader, "message:unacked", {});
    expect(unacked.messages.filter((m) => m.body === "api-once")).toHaveLength(1);
  });
});

describe("local delivery is per server", () => {
  it("an embedded gateway stamps its own adapter, and a Socket.IO server of no gateway in the same process still broadcasts", async () => {
    const { startInProcess } = await import("../support/in-process-gateway.js");
    const { Server } = await import("socket.io");
    const gw = await startInProcess();
    // Not attached to any HTTP server: nothing to listen on or close, only its namespace adapter matters here.
    const bystander = new Server();
    try {
      // The in-memory adapter has no broadcast of its own: a plain assignment hit the prototype's accessor,
      // so the trace stamp never landed on the adapter and became every other adapter's fallback instead.
      expect(Object.hasOwn(gw.gateway.io.of("/").adapter, "broadcast")).toBe(true);
      expect(() => bystander.of("/").adapter.broadcast({ type: 2, data: ["ping"], nsp: "/" }, { rooms: new Set(), except: new Set() })).not.toThrow();
    } finally {
      await gw.gateway.close();
    }
  });

  it("two gateways in one process deliver each to its own sockets (no process-wide broadcast patch wins)", async () => {
    const { startInProcess } = await import("../support/in-process-gateway.js");
    const a = await startInProcess();
    const b = await startInProcess();
    try {
      const members = [];
      for (const [gwUrl, name] of [
        [a.url, "pa"],
        [a.url, "pa2"],
        [b.url, "pb"],
        [b.url, "pb2"],
      ] as const) {
        const c = await connected(client(gwUrl, { token: await signToken(name) }));
        expect(await ask(c, "room:join", { room: "same-room" })).toMatchObject({ ok: true });
        const got: unknown[] = [];
        c.on("message", (m: { body: unknown }) => got.push(m.body));
        members.push({ c, got });
      }
      const [pa, pa2, pb, pb2] = members as [(typeof members)[0], (typeof members)[0], (typeof members)[0], (typeof members)[0]];
      // Sender excluded (native sender-excluded path) and nothing excluded (app-wide path), on each gateway.
      expect(await ask(pa.c, "message:send", { room: "same-room", body: "from-a" })).toMatchObject({ ok: true });
      expect(await ask(pb.c, "message:send", { room: "same-room", body: "from-b" })).toMatchObject({ ok: true });
      a.gateway.io.to("same-room").emit("message", { id: "all-a", seq: 1, epoch: "test", from: "server", body: "all-a", ts: Date.now() });
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && (pa2.got.length < 2 || pb2.got.length < 2 || pa.got.length < 1 || pb.got.length < 1))
        await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      expect(pa2.got.sort()).toEqual(["all-a", "from-a"]);
      expect(pa.got).toEqual(["all-a"]);
      expect(pb2.got).toEqual(["from-b"]);
      expect(pb.got).toEqual([]);
    } finally {
      closeAll();
      await a.gateway.close();
      await b.gateway.close();
    }
  });
});
