// A throwing or rejecting handler answers its own socket, is counted, and past the budget
// disconnects that socket only, while 50 other sockets keep exchanging messages.
import { z } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineEvent } from "../../src/protocol/context.js";
import { ask, client, closeAll, connected, nextEvent, sleep, type Client } from "../support/clients.js";
import { startInProcess, type InProcess } from "../support/in-process-gateway.js";
import { metricValue, scrape } from "../support/metrics.js";
import { signToken } from "../support/tokens.js";

// A handler someone left unfinished: the classic "placeholder crashes every connection" incident.
const placeholder = defineEvent({
  name: "test:placeholder",
  schema: z.unknown(),
  async handle() {
    const unfinished = undefined as unknown as { run(): Record<string, unknown> };
    return unfinished.run();
  },
});
const rejecting = defineEvent({
  name: "test:reject",
  schema: z.unknown(),
  handle: () => Promise.reject(new Error("backend exploded at 10.0.0.7:6379")),
});

let g: InProcess;
beforeAll(async () => {
  g = await startInProcess({ HANDLER_ERROR_BUDGET: "3", RATE_LIMIT_EVENTS_PER_S: "1000", RATE_LIMIT_BURST: "1000", MAX_CONNECTIONS: "200" }, [
    placeholder,
    rejecting,
  ]);
});
afterAll(async () => {
  closeAll();
  await g.gateway.close();
});

describe("failure isolation", () => {
  it("answers a throwing handler with a generic error, counts it, and cuts only that socket past the budget", async () => {
    const good: Client[] = await Promise.all(Array.from({ length: 50 }, async (_, i) => connected(client(g.url, { token: await signToken(`good-${i}`) }))));
    for (const s of good) await ask(s, "room:join", { room: "busy" });
    let received = 0;
    for (const s of good) s.on("message", () => received++);

    const bad = await connected(client(g.url, { token: await signToken("bad") }));
    const before = await scrape(g.opsUrl);

    // Good sockets keep talking while the bad one fails.
    let sent = 0;
    const traffic = (async () => {
      for (let round = 0; round < 10; round++) {
        await Promise.all(good.slice(0, 10).map((s) => ask(s, "message:send", { room: "busy", body: round }).then(() => sent++)));
        await sleep(20);
      }
    })();

    const first = await ask(bad, "test:placeholder", {});
    expect(first).toEqual({ ok: false, error: { code: "INTERNAL", message: "internal error, the request was not processed" } });
    const second = await ask(bad, "test:reject", {});
    expect(JSON.stringify(second)).not.toContain("10.0.0.7");
    expect(second).toMatchObject({ ok: false, error: { code: "INTERNAL" } });
    const disconnected = new Promise<string>((r) => bad.once("disconnect", r));
    const lastWords = nextEvent(bad, "gateway:error");
    await ask(bad, "test:placeholder", {}).catch(() => undefined);
    expect(await lastWords).toMatchObject({ code: "INTERNAL" });
    expect(await disconnected).toBe("io server disconnect");

    await traffic;
    await sleep(200);
    expect(sent).toBe(100);
    // Each message reaches the 49 other members of the room.
    expect(received).toBe(100 * 49);
    expect(good.every((s) => s.connected)).toBe(true);

    const after = await scrape(g.opsUrl);
    const errorsBefore = metricValue(before, "socketgate_handler_errors_total", { event: "unknown" }) ?? 0;
    expect(metricValue(after, "socketgate_handler_errors_total", { event: "unknown" })).toBe(errorsBefore + 3);
    expect(metricValue(after, "socketgate_events_total", { event: "unknown", outcome: "error" })).toBeGreaterThanOrEqual(3);
    const panicLog = g.logs.find((l) => l.msg === "handler failed");
    expect(panicLog).toMatchObject({ level: "error", event: "unknown" });
  });

  it("leaves no timers or listeners behind after connections come and go", async () => {
    closeAll();
    await waitUntil(() => g.gateway.io.of("/").sockets.size === 0, 5000);
    const baseline = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const listenersBefore = sharedListeners();
    for (let round = 0; round < 5; round++) {
      const batch = await Promise.all(Array.from({ length: 30 }, async (_, i) => connected(client(g.url, { token: await signToken(`churn-${round}-${i}`) }))));
      await Promise.all(batch.map((s) => ask(s, "room:join", { room: `churn-${i(round)}` })));
      for (const s of batch) s.close();
      await sleep(100);
    }
    await waitUntil(() => g.gateway.io.of("/").sockets.size === 0, 5000);
    expect(g.gateway.io.of("/").sockets.size).toBe(0);
    // Per-connection work registered on a shared emitter must leave with its connection.
    expect(sharedListeners()).toEqual(listenersBefore);
    // Presence grace timers (PRESENCE_GRACE_MS, 2 s) are the only per-user timers allowed to outlive a
    // socket, and only for the grace period: one per (room, user) that went empty.
    const timers = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    expect(timers - baseline).toBeLessThanOrEqual(150 + 2);
    await sleep(2300);
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBeLessThanOrEqual(baseline + 1);
  });
});

const i = (n: number) => n % 2;

/** Listener counts, by event name, on the emitters every connection shares. */
function sharedListeners(): Record<string, Record<string, number>> {
  const ns = g.gateway.io.of("/");
  const count = (e: NodeJS.EventEmitter) => Object.fromEntries(e.eventNames().map((n) => [String(n), e.listenerCount(n)]));
  return { process: count(process), io: count(g.gateway.io), engine: count(g.gateway.io.engine), namespace: count(ns), adapter: count(ns.adapter) };
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  for (const end = Date.now() + timeoutMs; !cond() && Date.now() < end;) await sleep(25);
}
