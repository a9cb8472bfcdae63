// The RoomHistory contract: atomic per-room sequence numbers, bounded retention, gap answers.
import { describe, expect, it } from "vitest";
import type { RoomHistory, StoredMessage } from "../../src/cluster/types.js";

export interface HistoryFactory {
  /** `count` histories sharing one store (memory: the same instance). */
  create(count: number, maxLength: number): Promise<RoomHistory[]>;
}

let n = 0;
const unique = (what: string) => `${what}-${process.pid}-${Date.now().toString(36)}-${++n}`;
const msg = (body: unknown): Omit<StoredMessage, "id" | "seq"> => ({ from: "alice", body, ts: Date.now() });
const seqs = (r: Awaited<ReturnType<RoomHistory["since"]>>) => (r.ok ? r.messages.map((m) => m.seq) : r);

export function historyContract(name: string, factory: HistoryFactory): void {
  describe(`RoomHistory contract: ${name}`, () => {
    it("numbers messages 1, 2, 3 per room and returns what follows a seq", async () => {
      const [h] = await factory.create(1, 100);
      const room = unique("room");
      const body = { text: "ünïcode", list: [], n: 0.1, big: 12345678901234 };
      const first = await h!.append(room, { ...msg(body), clientMsgId: "c1" });
      expect(first).toEqual({ from: "alice", body, ts: first.ts, clientMsgId: "c1", id: `${room}:1`, seq: 1, room });
      await h!.append(room, msg(2));
      await h!.append(room, msg(3));
      expect((await h!.append(unique("other"), msg("x"))).seq).toBe(1);
      const all = await h!.since(room, 0, 100);
      expect(all).toEqual({ ok: true, messages: [first, expect.objectContaining({ seq: 2, body: 2, id: `${room}:2` }), expect.objectContaining({ seq: 3 })] });
      expect(seqs(await h!.since(room, 1, 100))).toEqual([2, 3]);
      expect(seqs(await h!.since(room, 3, 100))).toEqual([]);
      expect(seqs(await h!.since(room, 50, 100))).toEqual([]);
      expect(seqs(await h!.since(unique("never"), 5, 100))).toEqual([]);
    });

    it("keeps maxLength messages and answers a gap when history no longer reaches seq + 1", async () => {
      const [h] = await factory.create(1, 3);
      const room = unique("room");
      for (let i = 1; i <= 5; i++) await h!.append(room, msg(i));
      expect(await h!.since(room, 0, 100)).toEqual({ ok: false, oldestSeq: 3 });
      expect(await h!.since(room, 1, 100)).toEqual({ ok: false, oldestSeq: 3 });
      expect(seqs(await h!.since(room, 2, 100))).toEqual([3, 4, 5]);
    });

    it("answers a gap when more than `limit` messages follow, pointing at the newest `limit`", async () => {
      const [h] = await factory.create(1, 100);
      const room = unique("room");
      for (let i = 1; i <= 5; i++) await h!.append(room, msg(i));
      expect(await h!.since(room, 0, 2)).toEqual({ ok: false, oldestSeq: 4 });
      expect(seqs(await h!.since(room, 3, 2))).toEqual([4, 5]);
    });

    it("with maxLength 0 keeps nothing but still numbers messages", async () => {
      const [h] = await factory.create(1, 0);
      const room = unique("room");
      await h!.append(room, msg(1));
      expect((await h!.append(room, msg(2))).seq).toBe(2);
      expect(await h!.since(room, 0, 100)).toEqual({ ok: false, oldestSeq: 3 });
      expect(seqs(await h!.since(room, 2, 100))).toEqual([]);
    });

    it("concurrent appends from two instances get distinct, gap-free, increasing numbers", async () => {
      const [a, b] = await factory.create(2, 1000);
      const room = unique("room");
      const stored = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a! : b!).append(room, msg(i))));
      expect(stored.map((m) => m.seq).sort((x, y) => x! - y!)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      const replay = await b!.since(room, 0, 1000);
      expect(replay.ok && replay.messages.map((m) => m.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      // Each stored answer matches what the history replays under that seq.
      const bySeq = new Map(stored.map((m) => [m.seq, m.body]));
      expect(replay.ok && replay.messages.every((m) => bySeq.get(m.seq) === m.body)).toBe(true);
    });
  });
}
