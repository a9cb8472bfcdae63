// The PresenceStore contract: transitions once cluster-wide, grace, exact counts, paging by user id, the mode
// hysteresis of big rooms, the occupancy claim, and (where supported) TTL expiry of dead pods.
import { describe, expect, it } from "vitest";
import type { PresenceModeLimits, PresenceStore, PresenceUser } from "../../src/cluster/types.js";
import { waitFor } from "../support/redis-harness.js";

export interface PresenceFactory {
  /** `count` stores that see one shared state, as pods of one cluster would (memory: the same instance). */
  pods(count: number, options?: { ttlMs?: number; graceMs?: number; limits?: PresenceModeLimits }): Promise<PresenceStore[]>;
  /** Whether entries expire when their pod stops heartbeating (false for the single-process memory store). */
  expires: boolean;
  /** Forget a pod without closing it: what kill -9 leaves behind. */
  crash?(store: PresenceStore): void;
}

let n = 0;
const unique = (what: string) => `${what}-${process.pid}-${Date.now().toString(36)}-${++n}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sorted = <T extends { userId: string }>(xs: T[]) => [...xs].sort((a, b) => a.userId.localeCompare(b.userId));

/** Every user of a room, read page by page (3 per page, so the old single-page tests exercise paging too). */
async function list(store: PresenceStore, room: string, limit = 3): Promise<PresenceUser[]> {
  const users: PresenceUser[] = [];
  let after: string | undefined;
  for (let i = 0; i < 10_000; i++) {
    const page = await store.page(room, limit, after);
    expect(page.users.length).toBeLessThanOrEqual(limit);
    users.push(...page.users);
    if (page.after === undefined) return users;
    expect(page.after).toBe(page.users[page.users.length - 1]!.userId);
    after = page.after;
  }
  throw new Error("paging did not end");
}

/** Heartbeats `live` until it reports offline candidates in `room` (other tests' pods share the cluster); when that happened. */
async function orphansReported(live: PresenceStore, room: string, deadlineMs: number, everyMs: number) {
  return waitFor(
    `offline candidates in ${room}`,
    async () => {
      const found = (await live.heartbeat()).orphans.filter((o) => o.room === room);
      return found.length > 0 && { found, at: Date.now() };
    },
    deadlineMs,
    everyMs,
  );
}

/** The transition flag alone, for the tests written against the boolean API. */
const t = async (change: Promise<{ transition: boolean }>) => (await change).transition;

export function presenceContract(name: string, factory: PresenceFactory): void {
  describe(`PresenceStore contract: ${name}`, () => {
    it("reports online once per user, counts devices, and offline only after every socket left and settle ran", async () => {
      const [p] = await factory.pods(1);
      const room = unique("room");
      expect(await t(p!.join(room, "alice", "s1"))).toBe(true);
      expect(await t(p!.join(room, "alice", "s2"))).toBe(false);
      expect(await t(p!.join(room, "bob", "s3"))).toBe(true);
      expect(sorted(await list(p!, room))).toEqual([
        { userId: "alice", devices: 2 },
        { userId: "bob", devices: 1 },
      ]);
      expect(await t(p!.leave(room, "alice", "s1"))).toBe(false);
      expect(await t(p!.settleOffline(room, "alice"))).toBe(false);
      expect(await t(p!.leave(room, "alice", "s2"))).toBe(true);
      // Inside the grace period the user is still listed, with no device.
      expect(sorted(await list(p!, room))).toEqual([
        { userId: "alice", devices: 0 },
        { userId: "bob", devices: 1 },
      ]);
      expect(await t(p!.settleOffline(room, "alice"))).toBe(true);
      expect(await t(p!.settleOffline(room, "alice"))).toBe(false);
      expect(await list(p!, room)).toEqual([{ userId: "bob", devices: 1 }]);
      expect(await t(p!.leave(room, "ghost", "nope"))).toBe(false);
    });

    it("a reconnect inside the grace period is no transition at all", async () => {
      const [p] = await factory.pods(1);
      const room = unique("room");
      expect(await t(p!.join(room, "alice", "old"))).toBe(true);
      expect(await t(p!.leave(room, "alice", "old"))).toBe(true);
      expect(await t(p!.join(room, "alice", "new"))).toBe(false);
      expect(await t(p!.settleOffline(room, "alice"))).toBe(false);
      expect(await list(p!, room)).toEqual([{ userId: "alice", devices: 1 }]);
    });

    it("keeps rooms apart", async () => {
      const [p] = await factory.pods(1);
      const a = unique("room");
      const b = unique("room");
      await t(p!.join(a, "alice", "s1"));
      expect(await t(p!.join(b, "alice", "s1"))).toBe(true);
      expect(await t(p!.leave(a, "alice", "s1"))).toBe(true);
      expect(await list(p!, b)).toEqual([{ userId: "alice", devices: 1 }]);
      expect(await list(p!, unique("empty"))).toEqual([]);
    });

    it("concurrent joins and leaves from different pods: exactly one online and one offline per user", async () => {
      const pods = await factory.pods(2);
      const room = unique("room");
      const users = ["u1", "u2", "u3", "u4"];
      const joins = await Promise.all(
        users.flatMap((u) => Array.from({ length: 6 }, (_, i) => t(pods[i % 2]!.join(room, u, `${u}-s${i}`)).then((went) => ({ u, went })))),
      );
      for (const u of users) expect(joins.filter((j) => j.u === u && j.went)).toHaveLength(1);
      expect(sorted(await list(pods[1]!, room))).toEqual(users.map((userId) => ({ userId, devices: 6 })));

      const leaves = await Promise.all(
        users.flatMap((u) => Array.from({ length: 6 }, (_, i) => t(pods[i % 2]!.leave(room, u, `${u}-s${i}`)).then((empty) => ({ u, empty })))),
      );
      for (const u of users) expect(leaves.filter((l) => l.u === u && l.empty)).toHaveLength(1);
      const settles = await Promise.all(
        users.flatMap((u) => [t(pods[0]!.settleOffline(room, u)), t(pods[1]!.settleOffline(room, u))].map((p) => p.then((off) => ({ u, off })))),
      );
      for (const u of users) expect(settles.filter((s) => s.u === u && s.off)).toHaveLength(1);
      expect(await list(pods[0]!, room)).toEqual([]);
    });

    it("a user stays online while a device remains on another pod", async () => {
      const [a, b] = await factory.pods(2);
      const room = unique("room");
      expect(await t(a!.join(room, "alice", "phone"))).toBe(true);
      expect(await t(b!.join(room, "alice", "laptop"))).toBe(false);
      expect(await t(a!.leave(room, "alice", "phone"))).toBe(false);
      expect(await t(a!.settleOffline(room, "alice"))).toBe(false);
      expect(await list(a!, room)).toEqual([{ userId: "alice", devices: 1 }]);
    });

    it("counts users and devices exactly, a user's devices on every pod counted once each", async () => {
      const [a, b] = await factory.pods(2);
      const room = unique("room");
      expect(await a!.join(room, "alice", "phone")).toMatchObject({ transition: true, users: 1, devices: 1, mode: "full" });
      expect(await b!.join(room, "alice", "laptop")).toMatchObject({ transition: false, users: 1, devices: 2 });
      // The same socket joining twice is one device.
      expect(await b!.join(room, "alice", "laptop")).toMatchObject({ transition: false, users: 1, devices: 2 });
      expect(await a!.join(room, "bob", "tablet")).toMatchObject({ transition: true, users: 2, devices: 3 });
      expect((await b!.page(room, 10)).occupancy).toEqual({ users: 2, devices: 3 });
      expect(await list(b!, room, 1)).toEqual([
        { userId: "alice", devices: 2 },
        { userId: "bob", devices: 1 },
      ]);
      expect(await a!.leave(room, "alice", "phone")).toMatchObject({ transition: false, users: 2, devices: 2 });
      expect(await b!.leave(room, "alice", "laptop")).toMatchObject({ transition: true, users: 2, devices: 1 });
      // Inside the grace period the user still counts (and is listed with no device) until settled.
      expect(await a!.settleOffline(room, "alice")).toMatchObject({ transition: true, users: 1, devices: 1 });
      expect((await a!.page(room, 10)).occupancy).toEqual({ users: 1, devices: 1 });
    });

    it("exact counts across 3 pods joining and leaving concurrently", async () => {
      const pods = await factory.pods(3);
      const room = unique("room");
      const users = Array.from({ length: 40 }, (_, i) => `user-${String(i).padStart(2, "0")}`);
      // Every user has one device per pod: 40 users, 120 devices, joined all at once.
      const joins = await Promise.all(users.flatMap((u) => pods.map((p, i) => p.join(room, u, `${u}-dev${i}`))));
      expect(joins.filter((j) => j.transition)).toHaveLength(40);
      // Each change reports the counts right after itself: all distinct device counts 1..120 appear exactly once.
      expect(joins.map((j) => j.devices).sort((x, y) => x - y)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
      for (const p of pods) expect((await p.page(room, 5)).occupancy).toEqual({ users: 40, devices: 120 });
      // Half the users leave on every pod; the others drop one device.
      const leaving = users.slice(0, 20);
      await Promise.all([
        ...leaving.flatMap((u) => pods.map((p, i) => p.leave(room, u, `${u}-dev${i}`))),
        ...users.slice(20).map((u) => pods[1]!.leave(room, u, `${u}-dev1`)),
      ]);
      expect((await pods[2]!.page(room, 5)).occupancy).toEqual({ users: 40, devices: 40 });
      const settled = await Promise.all(leaving.flatMap((u) => pods.map((p) => p.settleOffline(room, u))));
      expect(settled.filter((s) => s.transition)).toHaveLength(20);
      for (const p of pods) expect((await p.page(room, 5)).occupancy).toEqual({ users: 20, devices: 40 });
      expect(await list(pods[0]!, room, 7)).toEqual(users.slice(20).map((userId) => ({ userId, devices: 2 })));
    });

    it("paging returns every user exactly once, in user id order, even while others join and leave", async () => {
      const [a, b] = await factory.pods(2);
      const room = unique("room");
      const users = Array.from({ length: 24 }, (_, i) => `u${String(i).padStart(3, "0")}`);
      await Promise.all(users.map((u, i) => (i % 2 ? a! : b!).join(room, u, `s-${u}`)));
      // 24 users in pages of 4: six full pages, the last one without a cursor.
      const pages: string[][] = [];
      let after: string | undefined;
      do {
        const page = await (pages.length % 2 ? a! : b!).page(room, 4, after);
        pages.push(page.users.map((u) => u.userId));
        after = page.after;
        // Churn behind and ahead of the cursor must not duplicate or skip anyone who stays.
        if (pages.length === 2) {
          await a!.join(room, "zz-late", "s-late");
          await b!.leave(room, "u000", "s-u000");
        }
      } while (after !== undefined && pages.length < 100);
      const seen = pages.flat();
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual([...users, "zz-late"]);
      expect(pages.every((p) => p.length <= 4)).toBe(true);
      expect((await a!.page(room, 100)).after).toBeUndefined();
      // u000 left but is inside its grace period: still listed. 25 users: a page of exactly 25 is the last one.
      expect((await a!.page(room, 25)).after).toBeUndefined();
      expect((await a!.page(room, 24)).after).toBe("u023");
      expect((await a!.page(room, 10, "zz-late")).users).toEqual([]);
    });

    it("switches a room to occupancy above fullMaxUsers and back only at fullResumeUsers (no flapping)", async () => {
      const limits = { fullMaxUsers: 5, fullResumeUsers: 3 };
      const [a, b] = await factory.pods(2, { limits });
      const room = unique("room");
      for (let i = 1; i <= 5; i++)
        expect(await (i % 2 ? a! : b!).join(room, `u${i}`, `s${i}`)).toMatchObject({ mode: "full", occupancyDue: false, users: i, modeEpoch: 0 });
      // modeEpoch counts the switches, on every pod: odd while in occupancy mode.
      expect(await a!.join(room, "u6", "s6")).toMatchObject({ transition: true, mode: "occupancy", occupancyDue: true, users: 6, modeEpoch: 1 });
      expect((await b!.page(room, 2)).mode).toBe("occupancy");
      // Back to 5, then 4 users: still above fullResumeUsers, the room stays in occupancy mode.
      for (const u of ["u6", "u5"]) {
        await a!.leave(room, u, `s${u.slice(1)}`);
        expect(await a!.settleOffline(room, u)).toMatchObject({ transition: true, mode: "occupancy" });
      }
      expect(await b!.join(room, "u5", "s5")).toMatchObject({ mode: "occupancy", users: 5 });
      await b!.leave(room, "u5", "s5");
      expect(await a!.settleOffline(room, "u5")).toMatchObject({ mode: "occupancy", users: 4 });
      await b!.leave(room, "u4", "s4");
      expect(await b!.settleOffline(room, "u4")).toMatchObject({ transition: true, mode: "full", users: 3, occupancyDue: true, modeEpoch: 2 });
      expect(await a!.join(room, "u4", "s4")).toMatchObject({ mode: "full", users: 4, modeEpoch: 2 });
      expect(await a!.join(room, "u5", "s5")).toMatchObject({ mode: "full", users: 5 });
      expect(await b!.join(room, "u6", "s6")).toMatchObject({ mode: "occupancy", users: 6, modeEpoch: 3 });
    });

    it("an occupancy claim succeeds once per interval cluster-wide, only when counts changed", async () => {
      const limits = { fullMaxUsers: 2, fullResumeUsers: 1 };
      const pods = await factory.pods(3, { limits });
      const room = unique("room");
      // A full-mode room never has anything to claim.
      await pods[0]!.join(room, "u1", "s1");
      expect(await pods[1]!.claimOccupancy(room, 300)).toEqual({ emit: false });
      await pods[1]!.join(room, "u2", "s2");
      await pods[2]!.join(room, "u3", "s3");
      const claims = await Promise.all(pods.map((p) => p.claimOccupancy(room, 300)));
      expect(claims.filter((c) => c.emit)).toEqual([{ emit: true, mode: "occupancy", users: 3, devices: 3 }]);
      // No change since: nothing to emit, no retry needed.
      expect(await pods[0]!.claimOccupancy(room, 300)).toEqual({ emit: false });
      // A change inside the interval: wait for the rest of it, then exactly one claim carries the latest counts.
      const change = await pods[0]!.join(room, "u3", "s3-b");
      expect(change).toMatchObject({ occupancyDue: true, devices: 4 });
      const early = await pods[1]!.claimOccupancy(room, 300);
      expect(early.emit).toBe(false);
      if (early.emit) return;
      expect(early.retryInMs).toBeGreaterThan(0);
      expect(early.retryInMs).toBeLessThanOrEqual(300);
      await pods[2]!.join(room, "u4", "s4");
      await sleep(early.retryInMs! + 20);
      const late = await Promise.all(pods.map((p) => p.claimOccupancy(room, 300)));
      expect(late.filter((c) => c.emit)).toEqual([{ emit: true, mode: "occupancy", users: 4, devices: 5 }]);
    });

    // Expiry is driven by conditions, not by counting sleeps: a starved event loop (2 shared cores) only
    // makes a beat late, so the TTL is long enough that no beat is ever a TTL late, and the wait for
    // the reap has a generous deadline. What is checked stays exact: nothing expires while beating,
    // the dead pod's users are reported exactly once, and never before the TTL since its last beat.
    it.runIf(factory.expires)(
      "heartbeats keep live entries; a dead pod's entries expire after the TTL and are reported",
      async () => {
        const ttlMs = 2000;
        const beatMs = 250;
        const [live, doomed] = await factory.pods(2, { ttlMs, graceMs: 100 });
        const room = unique("room");
        const joinedAt = Date.now();
        await t(live!.join(room, "stays", "s1"));
        await t(doomed!.join(room, "leaves", "s2"));
        await t(doomed!.join(room, "shared", "s3"));
        await t(live!.join(room, "shared", "s4"));
        // Both pods beat for longer than a TTL after the joins: without the refresh the entries would be gone.
        let lastBeat = 0;
        while (Date.now() - joinedAt < 1.25 * ttlMs) {
          expect((await live!.heartbeat()).orphans.filter((o) => o.room === room)).toEqual([]);
          lastBeat = Date.now();
          expect((await doomed!.heartbeat()).orphans.filter((o) => o.room === room)).toEqual([]);
          await sleep(beatMs);
        }
        expect(sorted(await list(live!, room))).toEqual([
          { userId: "leaves", devices: 1 },
          { userId: "shared", devices: 2 },
          { userId: "stays", devices: 1 },
        ]);
        factory.crash?.(doomed!);
        // The live pod keeps beating until it reports the user left without a socket (TTL + one beat when
        // the machine is quiet; the deadline only bounds a starved run).
        const orphans = await orphansReported(live!, room, ttlMs + 15_000, beatMs / 2);
        expect(orphans.found).toEqual([{ room, userId: "leaves" }]);
        // Not before the TTL since the dead pod's last heartbeat (lastBeat was read before that beat was sent).
        expect(orphans.at - lastBeat).toBeGreaterThanOrEqual(ttlMs - 20);
        expect(sorted(await list(live!, room))).toEqual([
          { userId: "leaves", devices: 0 },
          { userId: "shared", devices: 1 },
          { userId: "stays", devices: 1 },
        ]);
        expect(await t(live!.settleOffline(room, "leaves"))).toBe(true);
        expect(await t(live!.settleOffline(room, "leaves"))).toBe(false);
        expect(sorted(await list(live!, room))).toEqual([
          { userId: "shared", devices: 1 },
          { userId: "stays", devices: 1 },
        ]);
      },
      30_000,
    );

    it.runIf(factory.expires)(
      "a dead pod's pending grace timer is taken over: the user still goes offline",
      async () => {
        const ttlMs = 1000;
        const [live, doomed] = await factory.pods(2, { ttlMs, graceMs: 100 });
        const room = unique("room");
        await t(live!.join(room, "other", "s0"));
        await t(doomed!.join(room, "alice", "s1"));
        expect(await t(doomed!.leave(room, "alice", "s1"))).toBe(true);
        // The pod dies before its grace timer fires.
        const crashedAt = Date.now();
        factory.crash?.(doomed!);
        const orphans = await orphansReported(live!, room, ttlMs + 15_000, 100);
        expect(orphans.found).toEqual([{ room, userId: "alice" }]);
        expect(orphans.at - crashedAt).toBeGreaterThanOrEqual(ttlMs - 20);
        expect(await t(live!.settleOffline(room, "alice"))).toBe(true);
        expect(await list(live!, room)).toEqual([{ userId: "other", devices: 1 }]);
      },
      30_000,
    );

    it.runIf(factory.expires)(
      "a dead pod's expiring entries make a big room due an occupancy claim, devices alone included",
      async () => {
        // A TTL no beat of a starved loop misses; the reap is waited for, not slept for (see above).
        const ttlMs = 2000;
        const limits = { fullMaxUsers: 2, fullResumeUsers: 1 };
        const [live, doomed] = await factory.pods(2, { ttlMs, graceMs: 100, limits });
        const room = unique("room");
        for (const u of ["u1", "u2", "u3"]) await live!.join(room, u, `live-${u}`);
        // The doomed pod holds only a second device of u1: its expiry changes devices, not users.
        await doomed!.join(room, "u1", "doomed-u1");
        expect(await live!.claimOccupancy(room, 50)).toMatchObject({ emit: true, users: 3, devices: 4 });
        expect((await live!.heartbeat()).recounted).not.toContain(room);
        factory.crash?.(doomed!);
        const beat = await waitFor(
          "the dead pod's entry to be reaped",
          async () => {
            const b = await live!.heartbeat();
            return b.recounted.includes(room) && b;
          },
          ttlMs + 15_000,
          100,
        );
        expect(beat.orphans.filter((o) => o.room === room)).toEqual([]);
        expect(await live!.claimOccupancy(room, 50)).toEqual({ emit: true, mode: "occupancy", users: 3, devices: 3 });
        // Reported once: the next beat has nothing more to say about this room.
        expect((await live!.heartbeat()).recounted).not.toContain(room);
      },
      30_000,
    );

    it.runIf(!factory.expires)("heartbeat has nothing to expire", async () => {
      const [p] = await factory.pods(1);
      await p!.join(unique("room"), "alice", "s1");
      expect(await p!.heartbeat()).toEqual({ orphans: [], recounted: [] });
    });
  });
}
