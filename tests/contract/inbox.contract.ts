// The Inbox contract: stored before resolving, ordered, acknowledged per device, bounded by length and age.
import { describe, expect, it } from "vitest";
import type { Inbox, StoredMessage } from "../../src/cluster/types.js";

export interface InboxFactory {
  /** `count` inboxes sharing one store (memory: the same instance), with these bounds. */
  create(count: number, limits: { maxLength: number; maxAgeMs: number; onTrim: (n: number) => void }): Promise<Inbox[]>;
}

let n = 0;
const unique = (what: string) => `${what}-${process.pid}-${Date.now().toString(36)}-${++n}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const msg = (to: string, body: unknown): Omit<StoredMessage, "id"> => ({ to, from: "sender", body, ts: Date.now() });
const bodies = (ms: StoredMessage[]) => ms.map((m) => m.body);

export function inboxContract(name: string, factory: InboxFactory): void {
  describe(`Inbox contract: ${name}`, () => {
    const roomy = { maxLength: 100, maxAgeMs: 60_000 };

    it("append resolves the stored message; unacked returns it in order, unchanged, with limit", async () => {
      const [inbox] = await factory.create(1, { ...roomy, onTrim: () => undefined });
      const user = unique("user");
      const body = { text: "héllo ✓", n: 1.5, list: [], nested: { a: [1, { b: null }] } };
      const first = await inbox!.append(user, { ...msg(user, body), clientMsgId: "c1" });
      expect(first).toMatchObject({ to: user, from: "sender", body, clientMsgId: "c1" });
      expect(typeof first.id).toBe("string");
      const second = await inbox!.append(user, msg(user, 2));
      const third = await inbox!.append(user, msg(user, 3));
      expect(new Set([first.id, second.id, third.id]).size).toBe(3);
      const all = await inbox!.unacked(user, "phone", 100);
      expect(all).toEqual([first, second, third]);
      expect(bodies(await inbox!.unacked(user, "phone", 2))).toEqual([body, 2]);
      expect(await inbox!.unacked(unique("nobody"), "phone", 10)).toEqual([]);
    });

    it("acknowledges per device, counts only new acknowledgements of retained ids", async () => {
      const [inbox] = await factory.create(1, { ...roomy, onTrim: () => undefined });
      const user = unique("user");
      const ids = [];
      for (let i = 1; i <= 4; i++) ids.push((await inbox!.append(user, msg(user, i))).id);
      expect(await inbox!.ack(user, "phone", [ids[1]!, ids[3]!])).toBe(2);
      expect(await inbox!.ack(user, "phone", [ids[1]!])).toBe(0);
      expect(await inbox!.ack(user, "phone", ["999-0", "not-an-id", "1-1"])).toBe(0);
      expect(bodies(await inbox!.unacked(user, "phone", 10))).toEqual([1, 3]);
      // Another device has its own view.
      expect(bodies(await inbox!.unacked(user, "laptop", 10))).toEqual([1, 2, 3, 4]);
      expect(await inbox!.ack(user, "phone", [ids[0]!, ids[2]!, ids[0]!])).toBe(2);
      expect(await inbox!.unacked(user, "phone", 10)).toEqual([]);
      // New messages after a fully acknowledged prefix are still delivered.
      await inbox!.append(user, msg(user, 5));
      expect(bodies(await inbox!.unacked(user, "phone", 10))).toEqual([5]);
      expect(bodies(await inbox!.unacked(user, "laptop", 10))).toEqual([1, 2, 3, 4, 5]);
      // Users are apart.
      expect(await inbox!.ack(unique("other"), "phone", [ids[0]!])).toBe(0);
    });

    it("is bounded by length, counts what it trims, and a new device starts at the oldest retained message", async () => {
      let trimmed = 0;
      const [inbox] = await factory.create(1, { maxLength: 3, maxAgeMs: 60_000, onTrim: (k) => (trimmed += k) });
      const user = unique("user");
      const ids = [];
      for (let i = 1; i <= 5; i++) ids.push((await inbox!.append(user, msg(user, i))).id);
      expect(trimmed).toBe(2);
      expect(bodies(await inbox!.unacked(user, "first-time", 10))).toEqual([3, 4, 5]);
      // Acknowledging a trimmed message counts nothing.
      expect(await inbox!.ack(user, "first-time", [ids[0]!])).toBe(0);
      expect(await inbox!.ack(user, "first-time", [ids[2]!])).toBe(1);
      expect(bodies(await inbox!.unacked(user, "first-time", 10))).toEqual([4, 5]);
    });

    it("drops messages older than the age bound and counts them", async () => {
      let trimmed = 0;
      const [inbox] = await factory.create(1, { maxLength: 100, maxAgeMs: 300, onTrim: (k) => (trimmed += k) });
      const user = unique("user");
      await inbox!.append(user, msg(user, "old"));
      await sleep(450);
      await inbox!.append(user, msg(user, "new"));
      expect(bodies(await inbox!.unacked(user, "phone", 10))).toEqual(["new"]);
      expect(trimmed).toBe(1);
    });

    it("appends from two instances are all kept, in one order every reader agrees on", async () => {
      const [a, b] = await factory.create(2, { ...roomy, onTrim: () => undefined });
      const user = unique("user");
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a! : b!).append(user, msg(user, i))));
      const seenByA = await a!.unacked(user, "d1", 100);
      const seenByB = await b!.unacked(user, "d2", 100);
      expect(seenByA).toHaveLength(40);
      expect(new Set(bodies(seenByA)).size).toBe(40);
      expect(seenByA.map((m) => m.id)).toEqual(seenByB.map((m) => m.id));
      expect(await b!.ack(user, "d1", seenByA.slice(0, 10).map((m) => m.id))).toBe(10);
      expect(await a!.unacked(user, "d1", 100)).toEqual(seenByA.slice(10));
    });
  });
}
