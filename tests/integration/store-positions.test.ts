// Positions, resets and retries against a real gateway on a real redis-server: FLUSHALL and a restart
// without persistence answer HISTORY_GAP to an old position and never reuse ids; retries under a slow
// Redis (DEBUG SLEEP past the deadline) leave one copy; catch-up and message:unacked page by
// MAX_ANSWER_BYTES (every message exactly once); large answers cost rate budget; history expires.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, sleep, type Client } from "../support/clients.js";
import { startGatewayProcess, TEST_API_KEY, type GatewayProcess } from "../support/gateway-process.js";
import { ping, startRedis, stopAllRedis, waitFor, type RedisNode } from "../support/redis-harness.js";
import { signToken } from "../support/tokens.js";

interface Msg {
  id: string;
  seq: number;
  epoch: string;
  body: unknown;
}
interface JoinAnswer {
  ok: boolean;
  messages: Msg[];
  messagesMore?: boolean;
  nextSince?: { epoch: string; seq: number };
  gap?: { code: string; reason: string; epoch: string };
  error?: { code: string };
}
type Send = { ok: true; id: string; seq: number; epoch: string; duplicate?: boolean } | { ok: false; error: { code: string } };

let redis: RedisNode;
let gw: GatewayProcess;
const report: string[] = [];
let n = 0;
const unique = (what: string) => `${what}-${Date.now().toString(36)}-${++n}`;

beforeAll(async () => {
  redis = await startRedis("positions");
  gw = await startGatewayProcess({
    env: { REDIS_URL: redis.url, REDIS_OP_TIMEOUT_MS: "800", MAX_ANSWER_BYTES: "16384", RATE_LIMIT_EVENTS_PER_S: "5", RATE_LIMIT_BURST: "400" },
  });
}, 60_000);

afterEach(() => closeAll());

afterAll(async () => {
  await gw?.stop();
  await stopAllRedis();
  if (report.length) console.log(`\n[store-positions]\n${report.join("\n")}\n`);
});

async function user(name: string, deviceId = "d1"): Promise<Client> {
  return connected(client(gw.url, { token: await signToken(name), deviceId }));
}

async function sendAll(s: Client, room: string, count: number, body: (i: number) => unknown = (i) => i): Promise<Msg[]> {
  const out: Msg[] = [];
  for (let i = 0; i < count; i++) {
    const r = await ask<Send>(s, "message:send", { room, body: body(i) });
    if (!r.ok) throw new Error(`send refused: ${r.error.code}`);
    out.push({ id: r.id, seq: r.seq, epoch: r.epoch, body: body(i) });
  }
  return out;
}

/** Resolves once the server no longer answers PING (DEBUG SLEEP has begun). */
async function asleep(): Promise<void> {
  await waitFor("DEBUG SLEEP to begin", async () => !(await ping(redis.port, 150)), 5000, 10);
}

async function publish(body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${gw.url}/v1/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe("log resets answer HISTORY_GAP and never reuse ids", () => {
  for (const reset of ["FLUSHALL", "restart without persistence"] as const) {
    it(`after ${reset}: an old position gets HISTORY_GAP (room and inbox), new messages get a new epoch and unseen ids`, async () => {
      const room = unique("reset-room");
      const s = await user(unique("resetter"));
      const reader = unique("reader");
      const r = await user(reader);
      await ask(s, "room:join", { room });
      const before = await sendAll(s, room, 5);
      const dmsBefore: Msg[] = [];
      for (let i = 0; i < 3; i++) {
        const a = await ask<Send>(s, "message:send", { to: reader, body: `dm${i}` });
        if (a.ok) dmsBefore.push({ id: a.id, seq: a.seq, epoch: a.epoch, body: `dm${i}` });
      }
      const position = { epoch: before[4]!.epoch, seq: 5 };

      if (reset === "FLUSHALL") await redis.cli("flushall");
      else await redis.restart();
      // The gateway's connection comes back by itself; wait until a write goes through.
      const after = await waitFor(
        "a send after the reset",
        async (): Promise<Extract<Send, { ok: true }> | undefined> => {
          const a = await ask<Send>(s, "message:send", { room, body: "after", clientMsgId: "after-reset" });
          return a.ok ? a : undefined;
        },
        20_000,
        200,
      );

      expect(after.epoch).not.toBe(position.epoch);
      expect(after.seq).toBe(1);
      expect(before.map((m) => m.id)).not.toContain(after.id);
      expect(await ask<JoinAnswer>(r, "room:join", { room, since: position })).toMatchObject({
        ok: true,
        messages: [],
        gap: { code: "HISTORY_GAP", reason: "epoch", epoch: after.epoch },
      });
      // A bare seq means "same epoch": 5 is ahead of the new log, which is a gap too, never an empty success.
      expect(await ask<JoinAnswer>(r, "room:join", { room, since: 5 })).toMatchObject({ gap: { code: "HISTORY_GAP", reason: "ahead" } });
      const fresh = await ask<JoinAnswer>(r, "room:join", { room, since: { epoch: after.epoch, seq: 0 } });
      expect(fresh.messages.map((m) => m.id)).toEqual([after.id]);

      const dm: Send = await ask<Send>(s, "message:send", { to: reader, body: "dm-after" });
      expect(dm.ok && dm.epoch !== dmsBefore[0]!.epoch && !dmsBefore.some((m) => m.id === dm.id)).toBe(true);
      const unacked = await ask<{ messages: Msg[] }>(r, "message:unacked", {});
      expect(unacked.messages.map((m) => m.body)).toEqual(["dm-after"]);
    }, 60_000);
  }
});

describe("retries leave exactly one stored copy", () => {
  it("message:send retried while Redis sleeps past the deadline (DEBUG SLEEP): one copy, the first id", async () => {
    const room = unique("slow-room");
    const s = await user(unique("retrier"));
    const r = await user(unique("watcher"));
    await ask(s, "room:join", { room });
    await ask(r, "room:join", { room });
    const answers: Send[] = [];
    // Redis executes the append only after the sleep, long after the 800 ms deadline answered UNAVAILABLE.
    const sleeping = redis.cli("debug", "sleep", "2");
    await asleep();
    answers.push(await ask<Send>(s, "message:send", { room, body: "slow", clientMsgId: "slow-1" }, 10_000));
    expect(answers[0]).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    // The client retries with the same clientMsgId until ok (each retry may also time out while Redis sleeps).
    for (let i = 0; i < 50 && !answers[answers.length - 1]!.ok; i++) {
      answers.push(await ask<Send>(s, "message:send", { room, body: "slow", clientMsgId: "slow-1" }, 10_000));
      if (!answers[answers.length - 1]!.ok) await sleep(100);
    }
    await sleeping;
    const ok = answers[answers.length - 1]!;
    expect(ok).toMatchObject({ ok: true, duplicate: true });
    const again = await ask<Send>(s, "message:send", { room, body: "slow", clientMsgId: "slow-1" });
    expect(again).toMatchObject({ ok: true, duplicate: true, id: ok.ok ? ok.id : "" });
    const stored = await ask<JoinAnswer>(r, "room:join", { room, since: 0 });
    expect(stored.messages.filter((m) => m.body === "slow")).toHaveLength(1);
    report.push(
      `DEBUG SLEEP 2 s, deadline 800 ms: ${answers.length} attempts (${answers.filter((a) => !a.ok).length} UNAVAILABLE), stored copies 1, duplicates 0`,
    );
  }, 30_000);

  it("a publish to many users retried after failing midway stores one copy per recipient", async () => {
    const users = Array.from({ length: 40 }, () => unique("multi"));
    const key = unique("order");
    // The first attempt runs into a sleeping Redis: some recipients are stored, the call fails.
    const sleeping = redis.cli("debug", "sleep", "2");
    await asleep();
    const first = await publish({ userIds: users, event: "message", data: "invoice", idempotencyKey: key });
    await sleeping;
    let last = first;
    for (let i = 0; i < 20 && last.status !== 200; i++) {
      await sleep(100);
      last = await publish({ userIds: users, event: "message", data: "invoice", idempotencyKey: key });
    }
    expect(first.status).not.toBe(200);
    expect(last.status).toBe(200);
    const retry = await publish({ userIds: users, event: "message", data: "invoice", idempotencyKey: key });
    expect(retry.json).toMatchObject({ ok: true, duplicate: true, ids: last.json.ids });
    let copies = 0;
    for (const u of users.slice(0, 10)) {
      const c = await user(u);
      copies += (await ask<{ messages: Msg[] }>(c, "message:unacked", {})).messages.filter((m) => m.body === "invoice").length;
      c.close();
    }
    expect(copies).toBe(10);
    report.push(`publish to 40 users under DEBUG SLEEP 2 s: first attempt HTTP ${first.status}, copies per recipient 1 (10 checked)`);
  }, 30_000);
});

describe("MAX_ANSWER_BYTES pages catch-up and unacked", () => {
  it("catch-up pages with messagesMore / nextSince: every message exactly once, each answer within the bound", async () => {
    const room = unique("paged");
    const s = await user(unique("pager"));
    const r = await user(unique("pagereader"));
    await ask(s, "room:join", { room });
    const sent = await sendAll(s, room, 60, (i) => ({ i, pad: "p".repeat(1000) }));
    const seen: string[] = [];
    let since: number | { epoch: string; seq: number } = 0;
    let pages = 0;
    for (;;) {
      const a: JoinAnswer = await ask<JoinAnswer>(r, "room:join", { room, since });
      pages++;
      expect(Buffer.byteLength(JSON.stringify(a.messages))).toBeLessThanOrEqual(16384);
      seen.push(...a.messages.map((m) => m.id));
      if (!a.messagesMore) break;
      since = a.nextSince!;
      if (pages > 30) throw new Error("no progress");
    }
    expect(seen).toEqual(sent.map((m) => m.id));
    expect(pages).toBeGreaterThan(3);
    report.push(`catch-up of 60 x ~1 KiB with MAX_ANSWER_BYTES 16384: ${pages} pages, each message once`);
  }, 30_000);

  it("message:unacked pages with more / nextCursor: every pending message exactly once", async () => {
    const s = await user(unique("dmsender"));
    const target = unique("dmtarget");
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const a = await ask<Send>(s, "message:send", { to: target, body: { i, pad: "q".repeat(1000) } });
      if (a.ok) ids.push(a.id);
    }
    const r = await user(target);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; ; pages++) {
      const a: { ok: boolean; messages: Msg[]; more?: boolean; nextCursor?: string } = await ask(r, "message:unacked", cursor ? { cursor } : {});
      expect(Buffer.byteLength(JSON.stringify(a.messages))).toBeLessThanOrEqual(16384);
      seen.push(...a.messages.map((m) => m.id));
      if (!a.more) break;
      cursor = a.nextCursor;
      if (pages > 30) throw new Error("no progress");
    }
    expect(seen).toEqual(ids);
  }, 30_000);

  it("large answers are charged to the socket's rate budget: a re-join loop runs out", async () => {
    const room = unique("charged");
    const s = await user(unique("charger"));
    await ask(s, "room:join", { room });
    await sendAll(s, room, 14, (i) => ({ i, pad: "c".repeat(1100) }));
    // A fresh socket re-joining with since 0 in a loop: each ~16 KiB answer costs a token more than the event.
    const looper = await user(unique("looper"));
    let answered = 0;
    let refused = 0;
    for (let i = 0; i < 300 && refused === 0; i++) {
      const a = await ask<JoinAnswer>(looper, "room:join", { room, since: 0 });
      if (a.ok) answered++;
      else if (a.error?.code === "RATE_LIMITED") refused++;
    }
    // Without charging, the burst (400) would answer all 300 joins.
    expect(refused).toBe(1);
    expect(answered).toBeLessThan(250);
    report.push(`re-join loop with ~16 KiB answers, burst 400: refused after ${answered} answers`);
  }, 30_000);
});

describe("HISTORY_TTL_MS", () => {
  it("sets the TTL on the room's keys at every append", async () => {
    const room = unique("ttl");
    const s = await user(unique("ttler"));
    await ask(s, "room:join", { room });
    await sendAll(s, room, 2);
    const ttl = Number(await redis.cli("pttl", `sg:history:{${room}}:meta`));
    const logTtl = Number(await redis.cli("pttl", `sg:history:{${room}}:log`));
    // Default 7 days.
    expect(ttl).toBeGreaterThan(7 * 24 * 3600 * 1000 - 60_000);
    expect(logTtl).toBeGreaterThan(7 * 24 * 3600 * 1000 - 60_000);
  });
});
