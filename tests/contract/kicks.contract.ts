// The KickStore contract: a kick recorded on one pod is read on every other, the latest kick wins, records expire.
import { describe, expect, it } from "vitest";
import type { KickStore } from "../../src/cluster/kick-store.js";

export interface KickStoreFactory {
  /** `count` handles on one shared store (memory: the same instance), each keeping records `ttlMs`. */
  create(count: number, ttlMs: number): Promise<KickStore[]>;
}

let n = 0;
const unique = (what: string) => `${what}-${process.pid}-${Date.now().toString(36)}-${++n}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function kickStoreContract(name: string, factory: KickStoreFactory): void {
  describe(`KickStore contract: ${name}`, () => {
    it("a kick recorded through one handle is read through every other at once; other users are untouched", async () => {
      const [a, b, c] = await factory.create(3, 60_000);
      const user = unique("u");
      expect(await b!.kickedAt(user)).toBeUndefined();
      const at = Date.now();
      await a!.recordKick(user, at);
      expect(await b!.kickedAt(user)).toBe(at);
      expect(await c!.kickedAt(user)).toBe(at);
      expect(await c!.kickedAt(unique("other"))).toBeUndefined();
    });

    it("the latest kick wins: an earlier time recorded later (a slow pod, a retry) never moves it back", async () => {
      const [a, b] = await factory.create(2, 60_000);
      const user = unique("u");
      const now = Date.now();
      await a!.recordKick(user, now - 5000);
      await b!.recordKick(user, now);
      await a!.recordKick(user, now - 1000);
      expect(await a!.kickedAt(user)).toBe(now);
      await a!.recordKick(user, now + 1);
      expect(await b!.kickedAt(user)).toBe(now + 1);
    });

    it("forgets a record ttlMs after its kick (not after it was written)", async () => {
      const [a, b] = await factory.create(2, 400);
      const fresh = unique("fresh");
      const old = unique("old");
      const now = Date.now();
      await a!.recordKick(fresh, now);
      // Recorded now, but kicked 300 ms ago: it has about 100 ms left.
      await a!.recordKick(old, now - 300);
      expect(await b!.kickedAt(fresh)).toBe(now);
      await sleep(200);
      expect(await b!.kickedAt(old)).toBeUndefined();
      expect(await b!.kickedAt(fresh)).toBe(now);
      await sleep(350);
      expect(await b!.kickedAt(fresh)).toBeUndefined();
    });

    it("keeps concurrent kicks of many users apart", async () => {
      const [a, b] = await factory.create(2, 60_000);
      const users = Array.from({ length: 50 }, () => unique("many"));
      const base = Date.now();
      await Promise.all(users.map((u, i) => (i % 2 ? a! : b!).recordKick(u, base + i)));
      expect(await Promise.all(users.map((u) => a!.kickedAt(u)))).toEqual(users.map((_, i) => base + i));
    });
  });
}
