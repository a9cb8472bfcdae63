// The Inbox contract: stored before resolving, ordered, acknowledged per device, bounded by length and age.
import { describe, expect, it } from "vitest";
import type { Inbox, NewMessage, StoredMessage } from "../../src/cluster/types.js";

export interface InboxFactory {
  /** `count` inboxes sharing one store (memory: the same instance), with these bounds. */
  create(count: number, limits: { maxLength: number; maxAgeMs: number; onTrim: (n: number) => void }): Promise<Inbox[]>;
}

let n = 0;
const unique = (what: string) => `${what}-${process.pid}-${Date.now().toString(36)}-${++n}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const msg = (to: string, body: unknown): NewMessage => ({ to, from: "sender", body, ts: Date.now() });
const wide = { maxMessages: 1000, maxBytes: 1 << 20 };
/** The first page of a device's unacked messages, at most `limit`. */
const pending = async (inbox: Inbox, user: string, device: string, limit = 1000) =>
  (await inbox.unacked(user, device, { ...wide, maxMessages: limit })).messages;
const bodies = (ms: StoredMessage[]) => ms.map((m) => m.body);

export function inboxContract(name: string, factory: InboxFactory): void {
  describe(`Inbox contract: ${name}`, () => {
    const roomy = { maxLength: 100, maxAgeMs: 60_000 };

    it("append resolves the stored message; unacked returns it in order, unchanged, with limit", async () => {
      const [inbox] = await factory.create(1, { ...roomy, onTrim: () => undefined });
      const user = unique("user");
      const body = { text: "héllo ✓", n: 1.5, list: [], nested: { a: [1, { b: null }] } };
      const first = (await inbox!.append(user, { ...msg(user, body), clientMsgId: "c1" })).message;
      expect(first).toMatchObject({ to: user, from: "sender", body, clientMsgId: "c1" });
      expect(typeof first.id).toBe("string");
      const second = (await inbox!.append(user, msg(user, 2))).message;
      const third = (await inbox!.append(user, msg(user, 3))).message;
      expect(new Set([first.id, second.id, third.id]).size).toBe(3);
      const all = await pending(inbox!, user, "phone", 100);
      expect(all).toEqual([first, second, third]);
      expect(bodies(await pending(inbox!, user, "phone", 2))).toEqual([body, 2]);
      expect(await pending(inbox!, unique("nobody"), "phone", 10)).toEqual([]);
    });

    it("acknowledges per device, counts only new acknowledgements of retained ids", async () => {
      const [inbox] = await factory.create(1, { ...roomy, onTrim: () => undefined });
      const user = unique("user");
      const ids = [];
      for (let i = 1; i <= 4; i++) ids.push((await inbox!.append(user, msg(user, i))).message.id);
      expect(await inbox!.ack(user, "phone", [ids[1]!, ids[3]!])).toBe(2);
      expect(await inbox!.ack(user, "phone", [ids[1]!])).toBe(0);
      expect(await inbox!.ack(user, "phone", ["999-0", "not-an-id", "1-1", "dm:otherepoch:1", ids[0]!.replace(/:\d+$/, ":999")])).toBe(0);
      expect(bodies(await pending(inbox!, user, "phone", 10))).toEqual([1, 3]);
      // Another device has its own view.
      expect(bodies(await pending(inbox!, user, "laptop", 10))).toEqual([1, 2, 3, 4]);
      expect(await inbox!.ack(user, "phone", [ids[0]!, ids[2]!, ids[0]!])).toBe(2);
      expect(await pending(inbox!, user, "phone", 10)).toEqual([]);
      // New messages after a fully acknowledged prefix are still delivered.
      await inbox!.append(user, msg(user, 5));
      expect(bodies(await pending(inbox!, user, "phone", 10))).toEqual([5]);
      expect(bodies(await pending(inbox!, user, "laptop", 10))).toEqual([1, 2, 3, 4, 5]);
      // Users are apart.
      expect(await inbox!.ack(unique("other"), "phone", [ids[0]!])).toBe(0);
    });

    it("is bounded by length, counts what it trims, and a new device starts at the oldest retained message", async () => {
      let trimmed = 0;
      const [inbox] = await factory.create(1, { maxLength: 3, maxAgeMs: 60_000, onTrim: (k) => (trimmed += k) });
      const user = unique("user");
      const ids = [];
      for (let i = 1; i <= 5; i++) ids.push((await inbox!.append(user, msg(user, i))).message.id);
      expect(trimmed).toBe(2);
      expect(bodies(await pending(inbox!, user, "first-time", 10))).toEqual([3, 4, 5]);
      // Acknowledging a trimmed message counts nothing.
      expect(await inbox!.ack(user, "first-time", [ids[0]!])).toBe(0);
      expect(await inbox!.ack(user, "first-time", [ids[2]!])).toBe(1);
      expect(bodies(await pending(inbox!, user, "first-time", 10))).toEqual([4, 5]);
    });

    it("drops messages older than the age bound and counts them (an inbox idle that long is dropped whole)", async () => {
      let trimmed = 0;
      const [inbox] = await factory.create(1, { maxLength: 100, maxAgeMs: 1000, onTrim: (k) => (trimmed += k) });
      const user = unique("user");
      await inbox!.append(user, msg(user, "old"));
      await sleep(700);
      await inbox!.append(user, msg(user, "mid"));
      await sleep(700);
      await inbox!.append(user, msg(user, "new"));
      expect(bodies(await pending(inbox!, user, "phone", 10))).toEqual(["mid", "new"]);
      expect(trimmed).toBe(1);
    });

    it("appends from two instances are all kept, in one order every reader agrees on", async () => {
      const [a, b] = await factory.create(2, { ...roomy, onTrim: () => undefined });
      const user = unique("user");
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a! : b!).append(user, msg(user, i))));
      const seenByA = await pending(a!, user, "d1", 100);
      const seenByB = await pending(b!, user, "d2", 100);
      expect(seenByA).toHaveLength(40);
      expect(new Set(bodies(seenByA)).size).toBe(40);
      expect(seenByA.map((m) => m.id)).toEqual(seenByB.map((m) => m.id));
      expect(
        await b!.ack(
          user,
          "d1",
          seenByA.slice(0, 10).map((m) => m.id),
        ),
      ).toBe(10);
      expect(await pending(a!, user, "d1", 100)).toEqual(seenByA.slice(10));
    });

    it("pages unacked by count and bytes with a cursor: every pending message exactly once", async () => {
      const [inbox] = await factory.create(1, { ...roomy, onTrim: () => undefined });
      const user = unique("user");
      const big = "y".repeat(3000);
      const ids: string[] = [];
      for (let i = 1; i <= 30; i++) ids.push((await inbox!.append(user, msg(user, { i, big }))).message.id);
      await inbox!.ack(user, "phone", [ids[4]!, ids[5]!]);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; ; pages++) {
        const page = await inbox!.unacked(user, "phone", { maxMessages: 1000, maxBytes: 10_000, ...(cursor ? { cursor } : {}) });
        expect(page.messages.length).toBeGreaterThan(0);
        expect(page.messages.length).toBeLessThanOrEqual(3);
        seen.push(...page.messages.map((m) => m.id));
        if (!page.more) break;
        cursor = page.nextCursor;
        expect(cursor).toBe(page.messages[page.messages.length - 1]!.id);
        if (pages > 40) throw new Error("no progress");
      }
      expect(seen).toEqual(ids.filter((_, i) => i !== 4 && i !== 5));
      const counted = await inbox!.unacked(user, "phone", { maxMessages: 2, maxBytes: 1 << 20 });
      expect([counted.messages.map((m) => m.id), counted.more, counted.nextCursor]).toEqual([[ids[0], ids[1]], true, ids[1]]);
      expect(await inbox!.unacked(user, "phone", { maxMessages: 2, maxBytes: 1 << 20, cursor: ids[29]! })).toEqual({ messages: [], more: false });
    });

    it("acknowledgements of an expired inbox do not hide the messages of its next epoch", async () => {
      const [inbox] = await factory.create(1, { maxLength: 100, maxAgeMs: 1000, onTrim: () => undefined });
      const user = unique("user");
      const old: StoredMessage[] = [];
      for (let i = 1; i <= 3; i++) old.push((await inbox!.append(user, msg(user, i))).message);
      expect(
        await inbox!.ack(
          user,
          "phone",
          old.map((m) => m.id),
        ),
      ).toBe(3);
      await sleep(1300);
      const fresh: StoredMessage[] = [];
      for (let i = 1; i <= 3; i++) fresh.push((await inbox!.append(user, msg(user, `new${i}`))).message);
      expect(fresh.map((m) => m.seq)).toEqual([1, 2, 3]);
      expect(fresh[0]!.epoch).not.toBe(old[0]!.epoch);
      expect(bodies(await pending(inbox!, user, "phone"))).toEqual(["new1", "new2", "new3"]);
      expect(
        await inbox!.ack(
          user,
          "phone",
          old.map((m) => m.id),
        ),
      ).toBe(0);
    });
  });
}
