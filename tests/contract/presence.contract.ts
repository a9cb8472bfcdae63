// The PresenceStore contract: transitions once cluster-wide, grace, and (where supported) TTL expiry of dead pods.
import { describe, expect, it } from "vitest";
import type { PresenceStore } from "../../src/cluster/types.js";

export interface PresenceFactory {
  /** `count` stores that see one shared state, as pods of one cluster would (memory: the same instance). */
  pods(count: number, options?: { ttlMs?: number; graceMs?: number }): Promise<PresenceStore[]>;
  /** Whether entries expire when their pod stops heartbeating (false for the single-process memory store). */
  expires: boolean;
  /** Forget a pod without closing it: what kill -9 leaves behind. */
  crash?(store: PresenceStore): void;
}

let n = 0;
const unique = (what: string) => `${what}-${process.pid}-${Date.now().toString(36)}-${++n}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sorted = <T extends { userId: string }>(xs: T[]) => [...xs].sort((a, b) => a.userId.localeCompare(b.userId));

export function presenceContract(name: string, factory: PresenceFactory): void {
  describe(`PresenceStore contract: ${name}`, () => {
    it("reports online once per user, counts devices, and offline only after every socket left and settle ran", async () => {
      const [p] = await factory.pods(1);
      const room = unique("room");
      expect(await p!.join(room, "alice", "s1")).toBe(true);
      expect(await p!.join(room, "alice", "s2")).toBe(false);
      expect(await p!.join(room, "bob", "s3")).toBe(true);
      expect(sorted(await p!.list(room))).toEqual([
        { userId: "alice", devices: 2 },
        { userId: "bob", devices: 1 },
      ]);
      expect(await p!.leave(room, "alice", "s1")).toBe(false);
      expect(await p!.settleOffline(room, "alice")).toBe(false);
      expect(await p!.leave(room, "alice", "s2")).toBe(true);
      // Inside the grace period the user is still listed, with no device.
      expect(sorted(await p!.list(room))).toEqual([
        { userId: "alice", devices: 0 },
        { userId: "bob", devices: 1 },
      ]);
      expect(await p!.settleOffline(room, "alice")).toBe(true);
      expect(await p!.settleOffline(room, "alice")).toBe(false);
      expect(await p!.list(room)).toEqual([{ userId: "bob", devices: 1 }]);
      expect(await p!.leave(room, "ghost", "nope")).toBe(false);
    });

    it("a reconnect inside the grace period is no transition at all", async () => {
      const [p] = await factory.pods(1);
      const room = unique("room");
      expect(await p!.join(room, "alice", "old")).toBe(true);
      expect(await p!.leave(room, "alice", "old")).toBe(true);
      expect(await p!.join(room, "alice", "new")).toBe(false);
      expect(await p!.settleOffline(room, "alice")).toBe(false);
      expect(await p!.list(room)).toEqual([{ userId: "alice", devices: 1 }]);
    });

    it("keeps rooms apart", async () => {
      const [p] = await factory.pods(1);
      const a = unique("room");
      const b = unique("room");
      await p!.join(a, "alice", "s1");
      expect(await p!.join(b, "alice", "s1")).toBe(true);
      expect(await p!.leave(a, "alice", "s1")).toBe(true);
      expect(await p!.list(b)).toEqual([{ userId: "alice", devices: 1 }]);
      expect(await p!.list(unique("empty"))).toEqual([]);
    });

    it("concurrent joins and leaves from different pods: exactly one online and one offline per user", async () => {
      const pods = await factory.pods(2);
      const room = unique("room");
      const users = ["u1", "u2", "u3", "u4"];
      const joins = await Promise.all(users.flatMap((u) => Array.from({ length: 6 }, (_, i) => pods[i % 2]!.join(room, u, `${u}-s${i}`).then((went) => ({ u, went })))));
      for (const u of users) expect(joins.filter((j) => j.u === u && j.went)).toHaveLength(1);
      expect(sorted(await pods[1]!.list(room))).toEqual(users.map((userId) => ({ userId, devices: 6 })));

      const leaves = await Promise.all(users.flatMap((u) => Array.from({ length: 6 }, (_, i) => pods[i % 2]!.leave(room, u, `${u}-s${i}`).then((empty) => ({ u, empty })))));
      for (const u of users) expect(leaves.filter((l) => l.u === u && l.empty)).toHaveLength(1);
      const settles = await Promise.all(users.flatMap((u) => [pods[0]!.settleOffline(room, u), pods[1]!.settleOffline(room, u)].map((p) => p.then((off) => ({ u, off })))));
      for (const u of users) expect(settles.filter((s) => s.u === u && s.off)).toHaveLength(1);
      expect(await pods[0]!.list(room)).toEqual([]);
    });

    it("a user stays online while a device remains on another pod", async () => {
      const [a, b] = await factory.pods(2);
      const room = unique("room");
      expect(await a!.join(room, "alice", "phone")).toBe(true);
      expect(await b!.join(room, "alice", "laptop")).toBe(false);
      expect(await a!.leave(room, "alice", "phone")).toBe(false);
      expect(await a!.settleOffline(room, "alice")).toBe(false);
      expect(await a!.list(room)).toEqual([{ userId: "alice", devices: 1 }]);
    });

    it.runIf(factory.expires)("heartbeats keep live entries; a dead pod's entries expire after the TTL and are reported", async () => {
      const ttlMs = 400;
      const [live, doomed] = await factory.pods(2, { ttlMs, graceMs: 100 });
      const room = unique("room");
      await live!.join(room, "stays", "s1");
      await doomed!.join(room, "leaves", "s2");
      await doomed!.join(room, "shared", "s3");
      await live!.join(room, "shared", "s4");
      // Both pods beat for 2 TTLs: nothing expires.
      let lastBeat = 0;
      for (let i = 0; i < 6; i++) {
        expect((await live!.heartbeat()).filter((o) => o.room === room)).toEqual([]);
        lastBeat = Date.now();
        expect((await doomed!.heartbeat()).filter((o) => o.room === room)).toEqual([]);
        await sleep(ttlMs / 3);
      }
      expect(sorted(await live!.list(room))).toEqual([
        { userId: "leaves", devices: 1 },
        { userId: "shared", devices: 2 },
        { userId: "stays", devices: 1 },
      ]);
      factory.crash?.(doomed!);
      // The live pod keeps beating; within TTL + one beat it reports the user left without a socket.
      const started = Date.now();
      let orphans: Array<{ room: string; userId: string }> = [];
      while (orphans.length === 0 && Date.now() - started < 3 * ttlMs) {
        await sleep(ttlMs / 3);
        // Other tests' pods share the cluster: only this room's candidates are ours to check.
        orphans = (await live!.heartbeat()).filter((o) => o.room === room);
      }
      expect(orphans).toEqual([{ room, userId: "leaves" }]);
      // Not before the TTL since the dead pod's last heartbeat.
      expect(Date.now() - lastBeat).toBeGreaterThanOrEqual(ttlMs - 20);
      expect(sorted(await live!.list(room))).toEqual([
        { userId: "leaves", devices: 0 },
        { userId: "shared", devices: 1 },
        { userId: "stays", devices: 1 },
      ]);
      expect(await live!.settleOffline(room, "leaves")).toBe(true);
      expect(await live!.settleOffline(room, "leaves")).toBe(false);
      expect(sorted(await live!.list(room))).toEqual([
        { userId: "shared", devices: 1 },
        { userId: "stays", devices: 1 },
      ]);
    });

    it.runIf(factory.expires)("a dead pod's pending grace timer is taken over: the user still goes offline", async () => {
      const ttlMs = 300;
      const [live, doomed] = await factory.pods(2, { ttlMs, graceMs: 100 });
      const room = unique("room");
      await live!.join(room, "other", "s0");
      await doomed!.join(room, "alice", "s1");
      expect(await doomed!.leave(room, "alice", "s1")).toBe(true);
      // The pod dies before its grace timer fires.
      factory.crash?.(doomed!);
      await sleep(ttlMs + 100);
      const orphans = (await live!.heartbeat()).filter((o) => o.room === room);
      expect(orphans).toEqual([{ room, userId: "alice" }]);
      expect(await live!.settleOffline(room, "alice")).toBe(true);
      expect(await live!.list(room)).toEqual([{ userId: "other", devices: 1 }]);
    });

    it.runIf(!factory.expires)("heartbeat has nothing to expire", async () => {
      const [p] = await factory.pods(1);
      await p!.join(unique("room"), "alice", "s1");
      expect(await p!.heartbeat()).toEqual([]);
    });
  });
}
