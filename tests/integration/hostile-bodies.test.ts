// Attacks with message bodies, replayed as the attacker sends them (raw frames), in embedded and in
// cluster mode: ten 1 MiB binary attachments on one message:send ("one event freezes a pod") and a
// body nested 5,000 levels deep ("poison message"). Each asserts what the attacker gets, that a
// bystander's answers stay fast, that nothing was stored (Redis did not grow) and no handler panicked.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected } from "../support/clients.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { http, RawSocket } from "../support/hardening.js";
import { deepJson, handlerErrorsTotal, redisUsedMemory, watchBystander } from "../support/hostile.js";
import { metricValue, scrape } from "../support/metrics.js";
import { startRedis, stopAllRedis, type RedisNode } from "../support/redis-harness.js";
import { signToken, TEST_API_KEY } from "../support/tokens.js";

const MiB = 1024 * 1024;
/** Generous for a shared 2-core machine; the unbounded attack stalled bystanders for seconds. */
const BYSTANDER_BOUND_MS = 500;

/** A raw WebSocket client of `room`, handshaken and joined, with a counter for ack ids. */
async function attacker(url: string, room: string, user = "attacker") {
  const raw = new RawSocket(url);
  const open = await raw.handshake({ token: await signToken(user, { rooms: ["*"] }) });
  expect(open).toMatch(/^40/);
  raw.send(`421["room:join",{"room":"${room}"}]`);
  expect(await raw.next((f) => f.startsWith("431"))).toMatch(/"ok":true/);
  return raw;
}

for (const mode of ["embedded", "cluster"] as const) {
  describe(`hostile bodies (${mode} mode)`, () => {
    let gw: GatewayProcess;
    let redis: RedisNode | undefined;

    beforeAll(async () => {
      if (mode === "cluster") redis = await startRedis("hostile-bodies");
      gw = await startGatewayProcess({ env: { REDIS_URL: redis?.url, RATE_LIMIT_EVENTS_PER_S: "1000", RATE_LIMIT_BURST: "1000" } });
    });
    afterAll(async () => {
      closeAll();
      await gw?.stop();
      if (redis) await stopAllRedis();
    });

    const historyLength = async (room: string) => {
      if (redis) return Number(await redis.cli("ZCARD", `sg:history:{${room}}:log`));
      const reader = await connected(client(gw.url, { token: await signToken("reader", { rooms: ["*"] }) }));
      const a = await ask<{ ok: boolean; messages?: unknown[] }>(reader, "room:join", { room, since: 0 });
      reader.close();
      return a.messages?.length ?? 0;
    };

    it("cuts a message:send whose ten binary attachments total ~10 MiB; nothing stored, bystanders unaffected", async () => {
      const room = `att-${mode}`;
      const watch = await watchBystander(gw.url, "calm");
      const memBefore = redis ? await redisUsedMemory(redis) : 0;
      const errorsBefore = await handlerErrorsTotal(gw);
      const raw = await attacker(gw.url, room);
      const placeholders = Array.from({ length: 10 }, (_, num) => ({ _placeholder: true, num }));
      raw.send(`4510-7${JSON.stringify(["message:send", { room, body: placeholders }])}`);
      for (let i = 0; i < 10; i++) raw.send(Buffer.alloc(MiB - 64, i));
      const closed = await raw.waitClosed(10_000);
      const answer = raw.frames.find((f) => f.startsWith("437"));
      const stats = await watch.stop();
      const memAfter = redis ? await redisUsedMemory(redis) : 0;
      console.log(
        `[hostile] attachments ${mode}: closed=${JSON.stringify(closed)} answer=${answer?.slice(0, 80)} bystander=${JSON.stringify(stats)} redisGrowthBytes=${memAfter - memBefore}`,
      );
      expect(closed, "the attacker's connection is cut").toBeDefined();
      expect(answer, "the oversized send was never acknowledged").toBeUndefined();
      expect(await historyLength(room)).toBe(0);
      expect(stats.failures).toBe(0);
      expect(stats.slowestMs).toBeLessThan(BYSTANDER_BOUND_MS);
      if (redis) expect(memAfter - memBefore).toBeLessThan(MiB);
      expect(await handlerErrorsTotal(gw)).toBe(errorsBefore);
      raw.close();
    });

    it("answers BAD_REQUEST to a body over MAX_BODY_BYTES whose attachment alone fits (binary counts toward it)", async () => {
      const room = `att-small-${mode}`;
      const raw = await attacker(gw.url, room);
      raw.send(`451-8${JSON.stringify(["message:send", { room, body: { file: { _placeholder: true, num: 0 }, caption: "x".repeat(20_000) } }])}`);
      raw.send(Buffer.alloc(50_000, 1));
      const answer = await raw.next((f) => f.startsWith("438"));
      expect(answer).toMatch(/"code":"BAD_REQUEST"/);
      expect(answer).toMatch(/MAX_BODY_BYTES/);
      expect(raw.isOpen).toBe(true);
      // Within the bound: stored and answered.
      raw.send(`451-9${JSON.stringify(["message:send", { room, body: { file: { _placeholder: true, num: 0 }, caption: "ok" } }])}`);
      raw.send(Buffer.alloc(30_000, 2));
      expect(await raw.next((f) => f.startsWith("439"))).toMatch(/"ok":true/);
      expect(await historyLength(room)).toBe(1);
      raw.close();
    });

    it("refuses a body nested 5,000 levels deep with BAD_REQUEST before storing it; catch-up and unacked keep answering", async () => {
      const room = `deep-${mode}`;
      const watch = await watchBystander(gw.url, "calm");
      const errorsBefore = await handlerErrorsTotal(gw);
      const memBefore = redis ? await redisUsedMemory(redis) : 0;
      const raw = await attacker(gw.url, room);
      raw.send(`4211["message:send",{"room":"${room}","body":${deepJson(5000)}}]`);
      raw.send(`4212["message:send",{"to":"victim","body":${deepJson(5000)}}]`);
      // 33 levels: one past the bound; 32 is accepted.
      raw.send(`4213["message:send",{"room":"${room}","body":${deepJson(33)}}]`);
      raw.send(`4214["message:send",{"room":"${room}","body":${deepJson(32)}}]`);
      const answers = await Promise.all([11, 12, 13, 14].map((id) => raw.next((f) => f.startsWith(`43${id}`))));
      for (const a of answers.slice(0, 3)) expect(a).toMatch(/"code":"BAD_REQUEST".*nested deeper than 32 levels/);
      expect(answers[3]).toMatch(/"ok":true/);

      // The victim and a catch-up reader are answered at once: nothing poisonous was stored.
      const victim = await connected(client(gw.url, { token: await signToken("victim", { rooms: ["*"] }) }));
      const unacked = await ask<{ ok: boolean; messages: unknown[] }>(victim, "message:unacked", {}, 2000);
      expect(unacked.ok).toBe(true);
      expect(unacked.messages).toEqual([]);
      const catchUp = await ask<{ ok: boolean; messages: unknown[] }>(victim, "room:join", { room, since: 0 }, 2000);
      expect(catchUp.ok).toBe(true);
      expect(catchUp.messages).toHaveLength(1);
      const stats = await watch.stop();
      const memAfter = redis ? await redisUsedMemory(redis) : 0;
      console.log(`[hostile] deep body ${mode}: bystander=${JSON.stringify(stats)} redisGrowthBytes=${memAfter - memBefore}`);
      expect(stats.slowestMs).toBeLessThan(BYSTANDER_BOUND_MS);
      expect(await handlerErrorsTotal(gw)).toBe(errorsBefore);
      if (redis) expect(memAfter - memBefore).toBeLessThan(MiB);
      raw.close();
    });

    it("eleven stored messages with one binary attachment each never cut a stock client's catch-up or unacked answer (the client's parser takes at most 10)", async () => {
      const room = `bin-page-${mode}`;
      const raw = await attacker(gw.url, room);
      for (let i = 0; i < 11; i++) {
        raw.send(`451-${100 + i}${JSON.stringify(["message:send", { room, body: { _placeholder: true, num: 0 } }])}`);
        raw.send(Buffer.alloc(100, i));
        raw.send(`451-${200 + i}${JSON.stringify(["message:send", { to: "bin-victim", body: { _placeholder: true, num: 0 } }])}`);
        raw.send(Buffer.alloc(100, i));
      }
      for (let i = 0; i < 11; i++) {
        expect(await raw.next((f) => f.startsWith(`43${100 + i}`))).toMatch(/"ok":true/);
        expect(await raw.next((f) => f.startsWith(`43${200 + i}`))).toMatch(/"ok":true/);
      }
      raw.close();
      // A stock socket.io-client pages through both, staying connected.
      const victim = await connected(client(gw.url, { token: await signToken("bin-victim", { rooms: ["*"] }) }));
      let since: unknown = 0;
      let caughtUp = 0;
      for (let page = 0; page < 20; page++) {
        const a = await ask<{ ok: boolean; messages: unknown[]; messagesMore?: boolean; nextSince?: unknown }>(victim, "room:join", { room, since });
        expect(a.ok).toBe(true);
        caughtUp += a.messages.length;
        if (!a.messagesMore) break;
        since = a.nextSince;
      }
      let cursor: string | undefined;
      let pending = 0;
      for (let page = 0; page < 20; page++) {
        const a = await ask<{ ok: boolean; messages: unknown[]; more?: boolean; nextCursor?: string }>(victim, "message:unacked", cursor ? { cursor } : {});
        expect(a.ok).toBe(true);
        pending += a.messages.length;
        if (!a.more) break;
        cursor = a.nextCursor;
      }
      expect(victim.connected).toBe(true);
      expect({ caughtUp, pending }).toEqual({ caughtUp: 11, pending: 11 });
    });

    it("refuses backend API data over MAX_BODY_BYTES or nested past 32 levels with 400 BAD_REQUEST", async () => {
      const post = (body: string) =>
        http(`${gw.url}/v1/publish`, { method: "POST", headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" }, body });
      const deep = await post(`{"room":"api-${mode}","event":"message","data":${deepJson(3000)}}`);
      const large = await post(JSON.stringify({ room: `api-${mode}`, event: "message", data: "y".repeat(70_000) }));
      const fine = await post(JSON.stringify({ room: `api-${mode}`, event: "message", data: { n: 1 } }));
      for (const a of [deep, large]) {
        if ("error" in a) throw new Error(a.error);
        expect(a.status).toBe(400);
        expect(JSON.parse(a.body).error.code).toBe("BAD_REQUEST");
      }
      if ("error" in fine) throw new Error(fine.error);
      expect(fine.status).toBe(200);
      expect(await historyLength(`api-${mode}`)).toBe(1);
      expect(metricValue(await scrape(gw.opsUrl), "socketgate_process_errors_total", { kind: "unhandledRejection" })).toBe(0);
    });
  });
}
