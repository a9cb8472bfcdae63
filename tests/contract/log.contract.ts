// The position contract shared by RoomHistory and Inbox: seq + epoch on every message, ids unique across
// epochs, since() by position with gaps (never an empty success), bounded pages, idempotent appends.
import { describe, expect, it } from "vitest";
import type { AppendOptions, AppendResult, LogRead, NewMessage, ReadFrom, ReadLimits, StoredMessage } from "../../src/cluster/types.js";

/** One log family (room histories or inboxes) seen through the calls both have. */
export interface PositionedLog {
  append(name: string, message: NewMessage, options?: AppendOptions): Promise<AppendResult>;
  since(name: string, from: ReadFrom, limits: ReadLimits): Promise<LogRead>;
}

export interface LogOptions {
  maxLength: number;
  /** Idle time after which the log is dropped (history: HISTORY_TTL_MS; inbox: its age bound). */
  ttlMs: number;
  idempotencyTtlMs: number;
}

export interface LogFactory {
  /** `count` instances sharing one store (memory: the same instance). */
  create(count: number, options: LogOptions): Promise<PositionedLog[]>;
}

let n = 0;
const unique = (what: string) => `${what}-${process.pid}-${Date.now().toString(36)}-${++n}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const msg = (body: unknown, extra: Partial<NewMessage> = {}): NewMessage => ({ from: "alice", body, ts: Date.now(), ...extra });
const roomy: LogOptions = { maxLength: 100, ttlMs: 60_000, idempotencyTtlMs: 60_000 };
const wide: ReadLimits = { maxMessages: 1000, maxBytes: 1 << 20 };
const seqs = (r: LogRead) => (r.ok ? r.messages.map((m) => m.seq) : r.gap);

export function logContract(name: string, factory: LogFactory): void {
  describe(`positioned log contract: ${name}`, () => {
    it("numbers messages 1, 2, 3 in one epoch; ids carry the epoch; since() continues from a position", async () => {
      const [log] = await factory.create(1, roomy);
      const key = unique("log");
      const body = { text: "ünïcode", list: [], n: 0.1, big: 12345678901234 };
      const first = (await log!.append(key, msg(body, { clientMsgId: "c1" }))).message;
      expect(first).toMatchObject({ from: "alice", body, clientMsgId: "c1", seq: 1 });
      expect(first.epoch).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
      expect(first.id).toContain(first.epoch);
      const second = (await log!.append(key, msg(2))).message;
      const third = (await log!.append(key, msg(3))).message;
      expect([second.seq, third.seq, second.epoch, third.epoch]).toEqual([2, 3, first.epoch, first.epoch]);
      expect(new Set([first.id, second.id, third.id]).size).toBe(3);
      const other = (await log!.append(unique("other"), msg("x"))).message;
      expect(other.seq).toBe(1);
      expect(other.epoch).not.toBe(first.epoch);

      expect(await log!.since(key, { epoch: first.epoch, seq: 0 }, wide)).toEqual({
        ok: true,
        messages: [first, second, third],
        more: false,
        next: { epoch: first.epoch, seq: 3 },
      });
      expect(seqs(await log!.since(key, { epoch: first.epoch, seq: 1 }, wide))).toEqual([2, 3]);
      expect(seqs(await log!.since(key, { seq: 1 }, wide))).toEqual([2, 3]);
      expect(await log!.since(key, { epoch: first.epoch, seq: 3 }, wide)).toEqual({
        ok: true,
        messages: [],
        more: false,
        next: { epoch: first.epoch, seq: 3 },
      });
      // Nothing seen yet: any epoch (or none) reads from the start.
      expect(seqs(await log!.since(key, { epoch: "someother", seq: 0 }, wide))).toEqual([1, 2, 3]);
      expect(seqs(await log!.since(unique("never"), { seq: 0 }, wide))).toEqual([]);
    });

    it("answers a gap, never an empty success: other epoch, ahead of the log, trimmed, log gone", async () => {
      const [log] = await factory.create(1, { ...roomy, maxLength: 3 });
      const key = unique("log");
      let epoch = "";
      for (let i = 1; i <= 5; i++) epoch = (await log!.append(key, msg(i))).message.epoch;
      expect(await log!.since(key, { epoch: "notthisone", seq: 4 }, wide)).toEqual({
        ok: false,
        gap: { code: "HISTORY_GAP", reason: "epoch", epoch, oldestSeq: 3, lastSeq: 5 },
      });
      expect(await log!.since(key, { epoch, seq: 500 }, wide)).toEqual({
        ok: false,
        gap: { code: "HISTORY_GAP", reason: "ahead", epoch, oldestSeq: 3, lastSeq: 5 },
      });
      expect(await log!.since(key, { seq: 6 }, wide)).toMatchObject({ ok: false, gap: { reason: "ahead" } });
      expect(await log!.since(key, { epoch, seq: 1 }, wide)).toEqual({
        ok: false,
        gap: { code: "HISTORY_GAP", reason: "trimmed", epoch, oldestSeq: 3, lastSeq: 5 },
      });
      expect(await log!.since(key, { seq: 0 }, wide)).toMatchObject({ ok: false, gap: { reason: "trimmed" } });
      expect(seqs(await log!.since(key, { epoch, seq: 2 }, wide))).toEqual([3, 4, 5]);
      // A log that does not exist (lost, expired) cannot continue anyone's position.
      expect(await log!.since(unique("gone"), { epoch, seq: 4 }, wide)).toEqual({
        ok: false,
        gap: { code: "HISTORY_GAP", reason: "epoch", epoch: "", oldestSeq: 1, lastSeq: 0 },
      });
      expect(await log!.since(unique("gone"), { seq: 4 }, wide)).toMatchObject({ ok: false, gap: { reason: "ahead", epoch: "" } });
    });

    it("pages by count and by bytes: every message exactly once, in order, at least one per page", async () => {
      const [log] = await factory.create(1, roomy);
      const key = unique("log");
      const big = "x".repeat(3000);
      for (let i = 1; i <= 40; i++) await log!.append(key, msg({ i, big }));
      const seen: number[] = [];
      let from: ReadFrom = { seq: 0 };
      let pages = 0;
      for (;;) {
        const page = await log!.since(key, from, { maxMessages: 1000, maxBytes: 10_000 });
        if (!page.ok) throw new Error(`gap ${JSON.stringify(page.gap)}`);
        pages++;
        expect(page.messages.length).toBeGreaterThan(0);
        expect(page.messages.length).toBeLessThanOrEqual(3);
        seen.push(...page.messages.map((m) => m.seq));
        from = page.next;
        if (!page.more) break;
        if (pages > 50) throw new Error("no progress");
      }
      expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      const counted = await log!.since(key, { seq: 10 }, { maxMessages: 5, maxBytes: 1 << 20 });
      expect(counted.ok && { seqs: counted.messages.map((m) => m.seq), more: counted.more, next: counted.next.seq }).toEqual({
        seqs: [11, 12, 13, 14, 15],
        more: true,
        next: 15,
      });
      // One message larger than the byte bound still comes alone (or nothing could progress).
      const alone = await log!.since(key, { seq: 0 }, { maxMessages: 1000, maxBytes: 10 });
      expect(alone.ok && alone.messages.map((m) => m.seq)).toEqual([1]);
    });

    it("with maxLength 0 keeps nothing but still numbers messages", async () => {
      const [log] = await factory.create(1, { ...roomy, maxLength: 0 });
      const key = unique("log");
      await log!.append(key, msg(1));
      const second = (await log!.append(key, msg(2))).message;
      expect(second.seq).toBe(2);
      expect(await log!.since(key, { seq: 0 }, wide)).toMatchObject({ ok: false, gap: { reason: "trimmed", oldestSeq: 3 } });
      expect(seqs(await log!.since(key, { epoch: second.epoch, seq: 2 }, wide))).toEqual([]);
    });

    it("an idempotency key stores once: the retry answers the first message, concurrently and across instances", async () => {
      const [a, b] = await factory.create(2, roomy);
      const key = unique("log");
      const first = await a!.append(key, msg("once", { clientMsgId: "k1" }), { idempotencyKey: "msg:alice:k1" });
      expect(first.duplicate).toBe(false);
      const again = await b!.append(key, msg("once", { clientMsgId: "k1", ts: first.message.ts + 5000 }), { idempotencyKey: "msg:alice:k1" });
      expect(again).toEqual({ message: first.message, duplicate: true });
      const racing = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a! : b!).append(key, msg("race"), { idempotencyKey: "msg:alice:race" })));
      expect(racing.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(new Set(racing.map((r) => r.message.id)).size).toBe(1);
      const all = await a!.since(key, { seq: 0 }, wide);
      expect(all.ok && all.messages.map((m) => m.body)).toEqual(["once", "race"]);
      // Keys are per log: the same key in another log is another message.
      expect((await a!.append(unique("log"), msg("elsewhere"), { idempotencyKey: "msg:alice:k1" })).duplicate).toBe(false);
    });

    it("forgets idempotency keys after their TTL", async () => {
      const [log] = await factory.create(1, { ...roomy, idempotencyTtlMs: 1000 });
      const key = unique("log");
      await log!.append(key, msg(1), { idempotencyKey: "k" });
      await sleep(1300);
      const later = await log!.append(key, msg(2), { idempotencyKey: "k" });
      expect([later.duplicate, later.message.seq]).toEqual([false, 2]);
    });

    it("a log idle for its TTL is dropped; the next message starts a new epoch with ids never seen before", async () => {
      const [log] = await factory.create(1, { ...roomy, ttlMs: 1000 });
      const key = unique("log");
      const old: StoredMessage[] = [];
      for (let i = 1; i <= 3; i++) old.push((await log!.append(key, msg(i))).message);
      await sleep(1300);
      expect(await log!.since(key, { epoch: old[0]!.epoch, seq: 3 }, wide)).toMatchObject({ ok: false, gap: { reason: "epoch", lastSeq: 0 } });
      const fresh = (await log!.append(key, msg("new"))).message;
      expect(fresh.seq).toBe(1);
      expect(fresh.epoch).not.toBe(old[0]!.epoch);
      expect(old.map((m) => m.id)).not.toContain(fresh.id);
      expect(await log!.since(key, { epoch: old[0]!.epoch, seq: 3 }, wide)).toMatchObject({
        ok: false,
        gap: { reason: "epoch", epoch: fresh.epoch, lastSeq: 1 },
      });
    });

    it("concurrent appends from two instances get distinct, gap-free, increasing seqs", async () => {
      const [a, b] = await factory.create(2, { ...roomy, maxLength: 1000 });
      const key = unique("log");
      const stored = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a! : b!).append(key, msg(i))));
      expect(stored.map((r) => r.message.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      const replay = await b!.since(key, { seq: 0 }, wide);
      expect(replay.ok && replay.messages.map((m) => m.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      const bySeq = new Map(stored.map((r) => [r.message.seq, r.message.body]));
      expect(replay.ok && replay.messages.every((m) => bySeq.get(m.seq) === m.body)).toBe(true);
    });
  });
}
