// The IdempotencyStore contract: first result remembered for the TTL, duplicates share it, failures forgotten.
import { describe, expect, it } from "vitest";
import type { IdempotencyStore } from "../../src/cluster/types.js";

export interface IdempotencyFactory {
  /** `count` stores sharing one state (memory: the same instance). */
  create(count: number, ttlMs: number): Promise<IdempotencyStore[]>;
}

let n = 0;
const unique = (what: string) => `${what}-${process.pid}-${Date.now().toString(36)}-${++n}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function idempotencyContract(name: string, factory: IdempotencyFactory): void {
  describe(`IdempotencyStore contract: ${name}`, () => {
    it("runs once and answers duplicates with the first result", async () => {
      const [s] = await factory.create(1, 60_000);
      const key = unique("k");
      let runs = 0;
      const produce = async () => ({ id: `m${++runs}`, ts: 42, nested: { list: [1, "two"] } });
      expect(await s!.once(key, produce)).toEqual({ value: { id: "m1", ts: 42, nested: { list: [1, "two"] } }, duplicate: false });
      expect(await s!.once(key, produce)).toEqual({ value: { id: "m1", ts: 42, nested: { list: [1, "two"] } }, duplicate: true });
      expect(await s!.once(unique("k"), produce)).toEqual({ value: expect.objectContaining({ id: "m2" }), duplicate: false });
      expect(runs).toBe(2);
    });

    it("concurrent duplicates, on one instance and across two, wait for the single run", async () => {
      const [a, b] = await factory.create(2, 60_000);
      const key = unique("k");
      let runs = 0;
      const produce = async () => {
        runs++;
        await sleep(150);
        return { id: "only" };
      };
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a! : b!).once(key, produce)));
      expect(runs).toBe(1);
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(results.every((r) => r.value.id === "only")).toBe(true);
    });

    it("forgets a failed attempt so the retry runs", async () => {
      const [s] = await factory.create(1, 60_000);
      const key = unique("k");
      await expect(s!.once(key, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
      expect(await s!.once(key, async () => "second")).toEqual({ value: "second", duplicate: false });
      expect(await s!.once(key, async () => "third")).toEqual({ value: "second", duplicate: true });
    });

    it("forgets results after the TTL", async () => {
      const [s] = await factory.create(1, 200);
      const key = unique("k");
      await s!.once(key, async () => 1);
      await sleep(350);
      expect(await s!.once(key, async () => 2)).toEqual({ value: 2, duplicate: false });
    });
  });
}
