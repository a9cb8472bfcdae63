// Big rooms through real gateways: the mode switch, coalesced occupancy events, paged user lists
// (room:join, presence:get, GET /v1/presence/:room), embedded and on 3 pods sharing Redis.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, nextEvent, sleep, type Client } from "../support/clients.js";
import { startGateways } from "../support/gateway-cluster.js";
import { startGatewayProcess, TEST_API_KEY, type GatewayProcess } from "../support/gateway-process.js";
import { startRedis, stopAllRedis, waitFor } from "../support/redis-harness.js";
import { signToken } from "../support/tokens.js";

const FULL_MAX = 5;
const INTERVAL_MS = 600;
const GRACE_MS = 200;
const env = { PRESENCE_FULL_MAX_USERS: String(FULL_MAX), OCCUPANCY_INTERVAL_MS: String(INTERVAL_MS), PRESENCE_GRACE_MS: String(GRACE_MS) };

interface Occupancy {
  room: string;
  users: number;
  devices: number;
  mode: "full" | "occupancy";
}
interface PresencePage {
  ok: boolean;
  occupancy: { users: number; devices: number };
  users: Array<{ userId: string; devices: number }>;
  more?: boolean;
  nextCursor?: string;
}

/** Every event of one kind a socket receives, with the local time it arrived. */
function record<T>(s: Client, event: string): Array<{ at: number; value: T }> {
  const seen: Array<{ at: number; value: T }> = [];
  s.on(event, (value: T) => seen.push({ at: Date.now(), value }));
  return seen;
}

const user = (i: number) => `big-${String(i).padStart(2, "0")}`;

async function member(url: string, sub: string, room: string, deviceId?: string): Promise<{ s: Client; join: PresencePage & { presenceMode: string } }> {
  const s = await connected(client(url, { token: await signToken(sub), ...(deviceId ? { deviceId } : {}) }));
  return { s, join: await ask(s, "room:join", { room }) };
}

/** Reads every page of a room's users through presence:get. */
async function allPages(s: Client, room: string, limit?: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const page = await ask<PresencePage>(s, "presence:get", { room, ...(cursor ? { cursor } : {}), ...(limit ? { limit } : {}) });
    expect(page.ok).toBe(true);
    expect(page.users.length).toBeLessThanOrEqual(limit ?? FULL_MAX);
    ids.push(...page.users.map((u) => u.userId));
    if (!page.more) {
      expect(page.nextCursor).toBeUndefined();
      return ids;
    }
    cursor = page.nextCursor;
  }
  throw new Error("paging did not end");
}

describe("embedded gateway", () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ env });
  });
  afterEach(() => closeAll());
  afterAll(() => gw.stop());

  it("per-user presence up to the limit, then coalesced occupancy; paged lists; back to full at the resume size", async () => {
    const room = "big-embedded";
    const first = await member(gw.url, user(0), room);
    expect(first.join).toMatchObject({ ok: true, occupancy: { users: 1, devices: 1 }, presenceMode: "full", users: [{ userId: user(0), devices: 1 }] });
    expect(first.join.more).toBeUndefined();
    const presence = record<{ userId: string; status: string }>(first.s, "presence");
    const occupancy = record<Occupancy>(first.s, "presence:occupancy");

    const members = [first];
    for (let i = 1; i < 9; i++) members.push(await member(gw.url, user(i), room));
    // A second device of one user: a device more, not a user more.
    members.push(await member(gw.url, user(3), room, "tablet"));
    const last = members[members.length - 1]!.join;
    expect(last).toMatchObject({ occupancy: { users: 9, devices: 10 }, presenceMode: "occupancy", more: true });
    expect(last.users).toHaveLength(FULL_MAX);
    expect(typeof last.nextCursor).toBe("string");

    // The occupancy event carries the exact final counts; per-user events stopped at the switch.
    await waitFor("final occupancy", async () => occupancy.some((o) => o.value.users === 9 && o.value.devices === 10), 5000);
    expect(presence.map((p) => p.value.userId)).toEqual([1, 2, 3, 4].map(user));
    await sleep(INTERVAL_MS + 200);
    const span = occupancy[occupancy.length - 1]!.at - occupancy[0]!.at;
    // At most one per interval; arrival times carry delivery jitter on a loaded machine: 200 ms of slack.
    expect(occupancy.length).toBeLessThanOrEqual(Math.floor((span + 200) / INTERVAL_MS) + 1);
    expect(occupancy.every((o) => o.value.room === room && o.value.mode === "occupancy")).toBe(true);

    // Paging: every user exactly once, in pages no larger than asked, through the socket and the API.
    const everyone = Array.from({ length: 9 }, (_, i) => user(i));
    expect(await allPages(first.s, room)).toEqual(everyone);
    expect(await allPages(first.s, room, 2)).toEqual(everyone);
    const ids: string[] = [];
    let cursor = "";
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${gw.url}/v1/presence/${room}?limit=4${cursor ? `&cursor=${cursor}` : ""}`, {
        headers: { authorization: `Bearer ${TEST_API_KEY}` },
      });
      const page = (await res.json()) as PresencePage;
      expect(page.occupancy).toEqual({ users: 9, devices: 10 });
      ids.push(...page.users.map((u) => u.userId));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(ids).toEqual(everyone);
    expect(await ask(first.s, "presence:get", { room, cursor: "bm90IGEgdXNlciE" })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    const bad = await fetch(`${gw.url}/v1/presence/${room}?limit=0`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } });
    expect(bad.status).toBe(400);

    // A device joining in occupancy mode (a second one of a user who stays) gets no per-user events now, and
    // gets them again once the room is back in full mode.
    const late = await member(gw.url, user(1), room, "late");
    expect(late.join.presenceMode).toBe("occupancy");

    // Down to 5 users: still occupancy (hysteresis); at 4 (90 % of 5) the room is full again, announced once.
    for (const m of members.slice(5)) m.s.close();
    await waitFor("5 users left", async () => occupancy.some((o) => o.value.users === 5), 5000);
    expect(occupancy.every((o) => o.value.mode === "occupancy")).toBe(true);
    members[4]!.s.close();
    const back = await nextEvent<Occupancy>(first.s, "presence:occupancy", 5000, (o) => o.mode === "full");
    expect(back).toMatchObject({ users: 4, devices: 5 });
    // Per-user events again, for the members of both modes.
    const again = [first.s, late.s].map((s) => nextEvent<{ userId: string; status: string }>(s, "presence", 5000, (p) => p.userId === user(20)));
    await member(gw.url, user(20), room);
    for (const p of await Promise.all(again)) expect(p).toMatchObject({ status: "online" });
  });
});

describe("3 pods sharing Redis", () => {
  let pods: GatewayProcess[];
  beforeAll(async () => {
    const redis = await startRedis();
    pods = await startGateways(3, { REDIS_URL: redis.url }, { env });
  }, 60_000);
  afterEach(() => closeAll());
  afterAll(async () => {
    await Promise.all(pods.map((p) => p.stop()));
    await stopAllRedis();
  });

  it("exact counts on every pod, one occupancy event per interval cluster-wide, pages across pods", async () => {
    const room = "big-cluster";
    const watchers = await Promise.all(pods.map((p, i) => member(p.url, `watch-${i}`, room)));
    const occupancy = watchers.map((w) => record<Occupancy>(w.s, "presence:occupancy"));
    const presence = watchers.map((w) => record<{ userId: string }>(w.s, "presence"));
    // 12 users joining at once spread over the pods, 3 of them with a second device on another pod.
    const joins = await Promise.all([
      ...Array.from({ length: 12 }, (_, i) => member(pods[i % 3]!.url, user(i), room)),
      ...[0, 1, 2].map((i) => member(pods[(i + 1) % 3]!.url, user(i), room, "second")),
    ]);
    for (const j of joins) {
      expect(j.join.users.length).toBeLessThanOrEqual(FULL_MAX);
      expect(j.join.occupancy.devices).toBeGreaterThanOrEqual(j.join.occupancy.users);
    }
    await waitFor(
      "every member saw the exact final counts",
      async () => occupancy.every((seen) => seen.some((o) => o.value.users === 15 && o.value.devices === 18)),
      8000,
    );
    await sleep(INTERVAL_MS + 300);
    for (const seen of occupancy) {
      const span = seen[seen.length - 1]!.at - seen[0]!.at;
      // One per interval cluster-wide (not one per pod): at most span / interval + 1, with 200 ms of delivery jitter.
      expect(seen.length).toBeLessThanOrEqual(Math.floor((span + 200) / INTERVAL_MS) + 1);
    }
    // Per-user events only while the room was small: 2 of the 3 watchers' joins, then at most FULL_MAX - 3 users.
    for (const seen of presence) expect(seen.length).toBeLessThanOrEqual(FULL_MAX);
    for (const p of pods) {
      const res = await fetch(`${p.url}/v1/presence/${room}?limit=4`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } });
      expect(((await res.json()) as PresencePage).occupancy).toEqual({ users: 15, devices: 18 });
    }
    const everyone = [...Array.from({ length: 12 }, (_, i) => user(i)), "watch-0", "watch-1", "watch-2"].sort();
    expect(await allPages(watchers[1]!.s, room, 4)).toEqual(everyone);
  });
});
