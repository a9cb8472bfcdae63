// The failure modes SPEC.md lists from real WebSocket servers, each as a test against a real process.
import WebSocket from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, sleep } from "../support/clients.js";
import { startGatewayProcess, TEST_API_KEY, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { signToken } from "../support/tokens.js";

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await startGatewayProcess({ env: { MAX_PAYLOAD_BYTES: "65536", MAX_CONNECTIONS: "40", PRESENCE_GRACE_MS: "200" } });
});
afterEach(() => closeAll());
afterAll(async () => {
  await gw.stop();
});

/** A raw Engine.IO/Socket.IO WebSocket: we write the frames a broken or hostile client would. */
async function rawSocket(token: string): Promise<{ ws: WebSocket; closed: Promise<number>; received: string[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=websocket`);
  const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
  const received: string[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.once("error", reject);
    ws.on("message", (data) => {
      const text = data.toString();
      received.push(text);
      if (text.startsWith("0")) ws.send(`40${JSON.stringify({ token })}`);
      else if (text.startsWith("40")) resolve();
      else if (text === "2") ws.send("3");
    });
  });
  return { ws, closed, received };
}

async function goodClientWorks(): Promise<void> {
  const s = await connected(client(gw.url, { token: await signToken("still-fine") }));
  expect(await ask(s, "room:join", { room: "alive" })).toMatchObject({ ok: true });
  s.close();
}

describe("one bad frame never takes the server down", () => {
  // What the gateway must answer: "close" (the transport is closed), "error" (gateway:error or
  // CONNECT_ERROR frame), or "wait" (a partial binary packet: held until its attachment or the
  // connection ends, bounded by MAX_PAYLOAD_BYTES like any packet).
  const frames: Array<[string, string | Buffer, "close" | "error" | "wait"]> = [
    ["truncated JSON in an event", '42["room:join",{"room":', "close"],
    ["unknown Socket.IO packet type", "49garbage", "close"],
    ["unknown Engine.IO packet type", "9hello", "close"],
    ["binary junk", Buffer.from([0xff, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef]), "close"],
    ["a binary attachment that never comes", '451-["message:send",{"_placeholder":true,"num":0}]', "wait"],
    ["an event that is not an array", '42{"room":"x"}', "close"],
    ["an event whose name is a number", "42[42,{}]", "error"],
    ["deeply nested payload", `42["room:join",${"[".repeat(5000)}${"]".repeat(5000)}]`, "error"],
    // A second CONNECT on one Engine.IO session, to any namespace, closes that session (one connection per session).
    ["a CONNECT to a namespace that does not exist", '40/admin,{"token":"x"}', "close"],
  ];
  for (const [what, frame, expected] of frames) {
    it(`survives ${what}`, async () => {
      const neighbour = await connected(client(gw.url, { token: await signToken("neighbour") }));
      await ask(neighbour, "room:join", { room: "n" });
      const { ws, closed, received } = await rawSocket(await signToken("attacker"));
      const seen = received.length;
      ws.send(frame);
      const outcome = await Promise.race([closed.then(() => "close"), sleep(1500).then(() => "none")]);
      const answered = received.slice(seen).some((m) => m.startsWith('42["gateway:error"') || m.startsWith("44"));
      expect(outcome === "close" ? "close" : answered ? "error" : "wait").toBe(expected);
      ws.terminate();
      expect(neighbour.connected).toBe(true);
      expect(await ask(neighbour, "presence:get", { room: "n" })).toMatchObject({ ok: true });
      expect(gw.child.exitCode).toBeNull();
    });
  }

  it("closes an oversized frame (over MAX_PAYLOAD_BYTES) and only that socket", async () => {
    const neighbour = await connected(client(gw.url, { token: await signToken("neighbour2") }));
    const before = await scrape(gw.opsUrl);
    const { ws, closed } = await rawSocket(await signToken("big"));
    ws.send(`42["message:send",{"room":"x","body":"${"a".repeat(200_000)}"}]`);
    // uWS cuts the connection from the frame header, before buffering the frame: no close frame
    // (1006 to the client), counted as a payload_too_large connection failure.
    expect(await Promise.race([closed, sleep(5000).then(() => "still open")])).toBe(1006);
    const failures = (t: string) => metricValue(t, "socketgate_connection_failures_total", { reason: "payload_too_large" }) ?? 0;
    expect(failures(await scrape(gw.opsUrl))).toBe(failures(before) + 1);
    expect(neighbour.connected).toBe(true);
    await goodClientWorks();
  });

  it("refuses an oversized long-polling POST without buffering it", async () => {
    const open = await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling`);
    const sid = JSON.parse((await open.text()).slice(1)).sid as string;
    const res = await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "4" + "x".repeat(300_000) });
    // An answer, not a reset: 413 Payload Too Large.
    expect(res.status).toBe(413);
    await goodClientWorks();
  });
});

describe("closing twice and writing to closed connections", () => {
  it("tolerates kicks, client closes and server emits racing on the same sockets", async () => {
    const errorsBefore = gw.logs.filter((l) => l.level === "error").length;
    for (let round = 0; round < 5; round++) {
      const sockets = await Promise.all(
        Array.from({ length: 6 }, async () => connected(client(gw.url, { token: await signToken("racer"), deviceId: `d${round}` }))),
      );
      await Promise.all(sockets.map((s) => ask(s, "room:join", { room: "race" })));
      // Three paths close the same sockets at once: the API kick, the client, and a publish to them.
      const kick = fetch(`${gw.url}/v1/disconnect`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ userId: "racer" }),
      });
      const publish = fetch(`${gw.url}/v1/publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ userId: "racer", event: "note", data: round }),
      });
      for (const s of sockets) s.close();
      expect((await kick).status).toBe(200);
      expect((await publish).status).toBe(200);
    }
    await sleep(500);
    const newErrors = gw.logs.filter((l) => l.level === "error").slice(errorsBefore);
    expect(newErrors).toEqual([]);
    expect(gw.logs.some((l) => /failed to send|ping/i.test(String(l.msg)))).toBe(false);
    expect(gw.child.exitCode).toBeNull();
  });

  it("logs normal disconnects at info with their reason, not as errors", async () => {
    const s = await connected(client(gw.url, { token: await signToken("leaver") }));
    s.close();
    const line = await gw.waitForLog((l) => l.msg === "disconnected" && l.userId === "leaver");
    expect(line).toMatchObject({ level: "info", reason: "client namespace disconnect" });
    expect(line.address).toBe("127.0.0.1");
  });
});

describe("capacity", () => {
  it("refuses connections past MAX_CONNECTIONS with OVER_CAPACITY, counts them, and reports not ready", async () => {
    // Every Engine.IO session holds a slot: wait for those of earlier tests (closed clients, cut raw sockets) to go.
    const deadline = Date.now() + 10_000;
    while (metricValue(await scrape(gw.opsUrl), "socketgate_engine_sessions") !== 0 && Date.now() < deadline) await sleep(100);
    const before = await scrape(gw.opsUrl);
    const held = await Promise.all(Array.from({ length: 40 }, async (_, i) => connected(client(gw.url, { token: await signToken(`cap-${i}`) }))));
    // Refused at the transport (HTTP 503), which socket.io-client retries, rather than a final CONNECT_ERROR.
    const refusal = await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling`);
    expect(refusal.status).toBe(503);
    expect(await refusal.json()).toMatchObject({ code: "OVER_CAPACITY" });
    const ready = await fetch(`${gw.opsUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain("at_capacity");
    const after = await scrape(gw.opsUrl);
    expect(metricValue(after, "socketgate_connection_failures_total", { reason: "capacity" })).toBe(
      (metricValue(before, "socketgate_connection_failures_total", { reason: "capacity" }) ?? 0) + 1,
    );
    expect(metricValue(after, "socketgate_connections", { transport: "websocket" })).toBe(40);
    // Every held socket still works: the refusal did not cost anyone else their connection.
    expect((await Promise.all(held.map((s) => ask(s, "presence:get", { room: "x" })))).every((a) => a.ok)).toBe(true);
    for (const s of held) s.close();
    await sleep(300);
    expect((await fetch(`${gw.opsUrl}/readyz`)).status).toBe(200);
  });
});
