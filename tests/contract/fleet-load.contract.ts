// The FleetLoad contract: every live pod listed once with its last load; silent pods expire; remove is immediate.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { FleetLoad, PodLoad } from "../../src/cluster/fleet-load.js";

export interface FleetLoadFactory {
  /** `count` handles on one shared fleet view (memory: the same instance), each with the given TTL. */
  create(count: number, ttlMs: number): Promise<FleetLoad[]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pod = (connections: number, extra: Partial<PodLoad> = {}): PodLoad => ({
  podId: `pod-${randomUUID().slice(0, 8)}`,
  connections,
  eligible: true,
  shedding: false,
  ...extra,
});
const byId = (loads: PodLoad[]) => new Map(loads.map((l) => [l.podId, l]));

export function fleetLoadContract(name: string, factory: FleetLoadFactory): void {
  describe(`FleetLoad contract: ${name}`, () => {
    it("lists every pod once with what it published last, seen from every handle", async () => {
      const [a, b] = await factory.create(2, 10_000);
      const p1 = pod(10);
      const p2 = pod(0, { eligible: false });
      await a!.publish(p1);
      await b!.publish(p2);
      await a!.publish({ ...p1, connections: 12, shedding: true });
      for (const handle of [a!, b!]) {
        const seen = byId(await handle.list());
        expect(seen.get(p1.podId)).toEqual({ ...p1, connections: 12, shedding: true });
        expect(seen.get(p2.podId)).toEqual(p2);
        expect((await handle.list()).filter((l) => l.podId === p1.podId)).toHaveLength(1);
      }
    });

    it("drops a pod that stops publishing once its TTL passes, keeps the ones that go on", async () => {
      const [a, b] = await factory.create(2, 400);
      const silent = pod(50);
      const alive = pod(20);
      await a!.publish(silent);
      await b!.publish(alive);
      expect(byId(await b!.list()).has(silent.podId)).toBe(true);
      for (let i = 0; i < 4; i++) {
        await sleep(150);
        await b!.publish(alive);
      }
      const seen = byId(await b!.list());
      expect(seen.has(silent.podId), "silent pod after 600 ms with a 400 ms TTL").toBe(false);
      expect(seen.get(alive.podId)?.connections).toBe(20);
    });

    it("claimUser: one winner across handles until the claim expires", async () => {
      const [a, b] = await factory.create(2, 10_000);
      const user = `u-${randomUUID().slice(0, 8)}`;
      const results = await Promise.all([a!, b!, a!, b!].map((h) => h.claimUser(user, 300)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await b!.claimUser(`${user}-other`, 300)).toBe(true);
      await sleep(450);
      expect(await a!.claimUser(user, 300)).toBe(true);
      expect(await b!.claimUser(user, 300)).toBe(false);
    });

    it("remove drops a pod at once; a later publish brings it back", async () => {
      const [a, b] = await factory.create(2, 10_000);
      const p = pod(7);
      await a!.publish(p);
      await a!.remove(p.podId);
      expect(byId(await b!.list()).has(p.podId)).toBe(false);
      await a!.publish(p);
      expect(byId(await b!.list()).get(p.podId)).toEqual(p);
      await a!.remove(p.podId);
    });
  });
}
