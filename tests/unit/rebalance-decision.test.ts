// The rebalancing decision and the choice of sockets: who sheds how many, when it starts and stops, whom.
import { describe, expect, it } from "vitest";
import type { PodLoad } from "../../src/cluster/fleet-load.js";
import { decide, fleetMean, initialState, MIN_EXCESS, type DecisionState, type RebalanceSettings } from "../../src/rebalance/decision.js";
import { deviceKey, MIN_AGE_MS, pickSockets, remember, type ShedCandidate, type ShedMemory } from "../../src/rebalance/pick.js";

const S: RebalanceSettings = { tolerance: 0.2, afterMs: 10_000, maxPerS: 20 };
const pod = (podId: string, connections: number, extra: Partial<PodLoad> = {}): PodLoad => ({ podId, connections, eligible: true, shedding: false, ...extra });

/** Runs decide() every `stepMs` from t0 while the pod's count follows `count(t)`; returns the sheds per tick. */
function run(opts: {
  self: (t: number) => PodLoad;
  fleet: (t: number) => PodLoad[];
  untilMs: number;
  stepMs?: number;
  settings?: RebalanceSettings;
  state?: DecisionState;
}) {
  let state = opts.state ?? initialState();
  const ticks: Array<{ t: number; shed: number; reason: string }> = [];
  for (let t = 0; t <= opts.untilMs; t += opts.stepMs ?? 250) {
    const d = decide({ now: t, self: opts.self(t), fleet: opts.fleet(t), settings: opts.settings ?? S, state });
    state = d.state;
    ticks.push({ t, shed: d.shed, reason: d.reason });
  }
  return { ticks, state, total: ticks.reduce((s, x) => s + x.shed, 0) };
}

describe("fleet mean", () => {
  it("counts eligible pods only, with this pod's exact count instead of its published one", () => {
    const fleet = [pod("a", 150), pod("b", 50), pod("new", 0, { eligible: false }), pod("draining", 300, { eligible: false })];
    expect(fleetMean(pod("a", 200), fleet)).toEqual({ mean: 125, pods: 2 });
    expect(fleetMean(pod("c", 100), fleet)).toEqual({ mean: 100, pods: 3 });
  });
});

describe("decide", () => {
  it("a pod over mean x 1.2 sheds only after REBALANCE_AFTER_MS without a break, at most REBALANCE_MAX_PER_S", () => {
    // 2 -> 4 pods: 200, 200, 0, 0; mean 100.
    const r = run({ self: () => pod("a", 200), fleet: () => [pod("b", 200), pod("c", 0), pod("d", 0)], untilMs: 15_000 });
    const first = r.ticks.find((x) => x.shed > 0)!;
    expect(first.t).toBe(10_000);
    expect(r.ticks.filter((x) => x.t < 10_000).every((x) => x.reason === "over_waiting")).toBe(true);
    // 5 s of shedding at 20/s (plus the first socket's credit), the local count never moving (clients land back).
    expect(r.total).toBeGreaterThanOrEqual(100);
    expect(r.total).toBeLessThanOrEqual(101);
    // Per second: never more than 20 (+1 for the starting credit).
    for (let s = 10_000; s < 15_000; s += 1000)
      expect(r.ticks.filter((x) => x.t >= s && x.t < s + 1000).reduce((a, x) => a + x.shed, 0)).toBeLessThanOrEqual(21);
  });

  it("sheds the excess down to the stop line mean x (1 + tolerance / 2), not below", () => {
    let count = 200;
    let total = 0;
    let state = initialState();
    const fleet = [pod("b", 100), pod("c", 100), pod("d", 0)]; // mean (200+100+100+0)/4 = 100 at start
    for (let t = 0; t <= 60_000; t += 250) {
      const d = decide({ now: t, self: pod("a", count), fleet, settings: S, state });
      state = d.state;
      count -= d.shed; // every shed client lands elsewhere
      total += d.shed;
      fleet[2] = pod("d", total);
    }
    // mean stays 100; the stop line is 110.
    expect(count).toBe(110);
    expect(total).toBe(90);
    expect(state.shedding).toBe(false);
  });

  it("one stretch closes at most 2 x its starting excess, even when every shed client lands back", () => {
    // 200 vs mean 100: budget 200. Clients always come back (count never moves).
    const r = run({ self: () => pod("a", 200), fleet: () => [pod("b", 200), pod("c", 0), pod("d", 0)], untilMs: 35_000 });
    const spentAt = r.ticks.find((x) => x.reason === "budget_spent")!.t;
    expect(r.ticks.filter((x) => x.t <= spentAt).reduce((a, x) => a + x.shed, 0)).toBe(200);
    // After a spent budget, the next stretch waits twice REBALANCE_AFTER_MS, then 4x, capped at 8x.
    const long = run({ self: () => pod("a", 200), fleet: () => [pod("b", 200), pod("c", 0), pod("d", 0)], untilMs: 400_000 });
    const starts = long.ticks
      .filter((x, i) => x.shed > 0 && (long.ticks[i - 1]?.shed ?? 0) === 0 && long.ticks[i - 1]?.reason === "over_waiting")
      .map((x) => x.t);
    const waits = starts.slice(1).map((t, i) => t - (long.ticks.filter((x) => x.reason === "budget_spent" && x.t < t).at(-1)?.t ?? starts[i]!));
    expect(waits.slice(0, 4)).toEqual([20_250, 40_250, 80_250, 80_250]);
  });

  it("pauses while the fleet is missing REBALANCE_MAX_PER_S clients (shed, not landed yet), then goes on", () => {
    let state = initialState();
    const fleet = [pod("b", 200), pod("c", 0), pod("d", 0)];
    const at = (t: number, inFlight: number) => {
      const d = decide({ now: t, self: pod("a", 200), fleet, settings: S, state, inFlight });
      state = d.state;
      return d;
    };
    for (let t = 0; t < 10_000; t += 250) at(t, 0);
    expect(at(10_000, 0).shed).toBe(1);
    const paused = [at(10_250, 20), at(10_500, 35), at(10_750, 20)];
    expect(paused.map((d) => [d.shed, d.reason])).toEqual([
      [0, "waiting_for_landing"],
      [0, "waiting_for_landing"],
      [0, "waiting_for_landing"],
    ]);
    expect(state.shedding).toBe(true);
    expect(at(11_000, 19).shed).toBeGreaterThan(0);
  });

  it("hysteresis: between the stop line and the upper line nothing starts; a new stretch must last REBALANCE_AFTER_MS again", () => {
    const fleet = [pod("b", 100), pod("c", 100), pod("d", 100)];
    // mean of (115 + 300) / 4 = 103.75: upper 124.5, stop 108.1. 115 is inside the band.
    const inside = run({ self: () => pod("a", 115), fleet: () => fleet, untilMs: 30_000 });
    expect(inside.total).toBe(0);
    // Over for 9 s, back under for a tick, over again: the clock restarts.
    const flapping = run({ self: (t) => pod("a", t === 9000 ? 100 : 140), fleet: () => fleet, untilMs: 18_750 });
    expect(flapping.total).toBe(0);
    expect(flapping.ticks.at(-1)!.reason).toBe("over_waiting");
  });

  it("dead pods leave the mean: when the others expire, a pod alone never sheds", () => {
    let alive = true;
    const r = run({ self: () => pod("a", 200), fleet: () => (alive ? [pod("b", 0)] : []), untilMs: 9000 });
    expect(r.ticks.at(-1)!.reason).toBe("over_waiting");
    alive = false;
    const after = run({ self: () => pod("a", 200), fleet: () => (alive ? [pod("b", 0)] : []), untilMs: 20_000, state: r.state });
    expect(after.total).toBe(0);
    expect(after.ticks.every((x) => x.reason === "no_fleet")).toBe(true);
  });

  it("a dead cold pod leaving the mean stops a shedding pod that is now within tolerance", () => {
    // a: 150, b: 150, c: 0 -> mean 100, a sheds; c dies (leaves the list) -> mean 150, a is balanced.
    let cAlive = true;
    let state = initialState();
    let shedAfterDeath = 0;
    for (let t = 0; t <= 20_000; t += 250) {
      if (t === 12_000) cAlive = false;
      const d = decide({ now: t, self: pod("a", 150), fleet: [pod("b", 150), ...(cAlive ? [pod("c", 0)] : [])], settings: S, state });
      state = d.state;
      if (!cAlive) shedAfterDeath += d.shed;
    }
    expect(shedAfterDeath).toBe(0);
    expect(state.shedding).toBe(false);
  });

  it("pods that are not ready (just started, draining) do not anchor the mean", () => {
    const r = run({
      self: () => pod("a", 200),
      fleet: () => [pod("b", 200), pod("starting", 0, { eligible: false }), pod("starting2", 0, { eligible: false })],
      untilMs: 30_000,
    });
    expect(r.total).toBe(0);
    // Once they are ready, the same counts make both old pods shed.
    const ready = run({ self: () => pod("a", 200), fleet: () => [pod("b", 200), pod("starting", 0), pod("starting2", 0)], untilMs: 11_000 });
    expect(ready.total).toBeGreaterThan(0);
  });

  it("a pod that is not eligible itself (draining) never sheds: the drain moves its clients", () => {
    const r = run({ self: () => pod("a", 500, { eligible: false }), fleet: () => [pod("b", 0), pod("c", 0)], untilMs: 30_000 });
    expect(r.total).toBe(0);
  });

  it("the pods under the mean never shed (nobody pulls; cold and landing pods stay still)", () => {
    for (const count of [0, 50, 99, 100, 110, 119]) {
      const r = run({ self: () => pod("x", count), fleet: () => [pod("b", 200), pod("c", 100), pod("d", 0)], untilMs: 30_000 });
      expect(r.total, `count ${count}`).toBe(0);
    }
  });

  it(`small counts stay still: a pod needs ${MIN_EXCESS} connections above the mean (3 clients on 2 pods never ping-pong)`, () => {
    expect(run({ self: () => pod("a", 2), fleet: () => [pod("b", 1)], untilMs: 30_000 }).total).toBe(0);
    expect(run({ self: () => pod("a", 4), fleet: () => [pod("b", 0)], untilMs: 11_000 }).total).toBeGreaterThan(0);
  });

  it("REBALANCE_AFTER_MS 0 sheds at the first look; the rate limit still holds", () => {
    const r = run({ self: () => pod("a", 1000), fleet: () => [pod("b", 0)], untilMs: 1000, settings: { ...S, afterMs: 0 } });
    expect(r.ticks[0]!.shed).toBe(1);
    expect(r.total).toBeLessThanOrEqual(21);
  });
});

describe("pickSockets", () => {
  const now = 100_000;
  const sock = (id: string, userId: string, extra: Partial<ShedCandidate> = {}): ShedCandidate => ({
    id,
    userId,
    deviceId: "d1",
    connectedAt: now - 10_000,
    inflight: 0,
    ...extra,
  });
  const memory = (): ShedMemory => ({ devices: new Map(), users: new Map() });
  const opts = { now, landedBackCooldownMs: 60_000, userCooldownMs: 5000 };

  it("spares sockets with handlers in flight and sockets still catching up after their connect", () => {
    const picked = pickSockets(
      [sock("busy", "u1", { inflight: 1 }), sock("young", "u2", { connectedAt: now - MIN_AGE_MS + 1 }), sock("idle", "u3")],
      3,
      memory(),
      opts,
    );
    expect(picked.map((p) => p.id)).toEqual(["idle"]);
  });

  it("one device of a user at a time: never two in one pick, none while the user's last shed device may still be reconnecting", () => {
    const m = memory();
    const all = [sock("a1", "ua"), sock("a2", "ua", { deviceId: "d2" }), sock("b1", "ub")];
    const first = pickSockets(all, 3, m, opts);
    expect(first).toHaveLength(2);
    expect(new Set(first.map((p) => p.userId))).toEqual(new Set(["ua", "ub"]));
    remember(m, first, now, 60_000);
    const rest = all.filter((s) => !first.includes(s));
    expect(pickSockets(rest, 3, m, { ...opts, now: now + 4000 })).toEqual([]);
    expect(pickSockets(rest, 3, m, { ...opts, now: now + 5000 }).map((p) => p.userId)).toEqual(["ua"]);
  });

  it("a device shed by this pod that lands back is accepted and left alone for the cooldown", () => {
    const m = memory();
    remember(m, [sock("old", "u1")], now, 60_000);
    const back = sock("new-socket-id", "u1", { connectedAt: now - 10_000 });
    expect(pickSockets([back], 1, m, { ...opts, now: now + 30_000 })).toEqual([]);
    expect(pickSockets([back], 1, m, { ...opts, now: now + 60_000 })).toEqual([back]);
  });

  it("picks at most the count asked, at random among the eligible", () => {
    const all = Array.from({ length: 100 }, (_, i) => sock(`s${i}`, `u${i}`));
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) for (const p of pickSockets(all, 5, memory(), opts)) seen.add(p.id);
    expect(pickSockets(all, 5, memory(), opts)).toHaveLength(5);
    expect(seen.size).toBeGreaterThan(40);
  });

  it("remember forgets entries older than the longest cooldown, oldest first", () => {
    const m = memory();
    remember(m, [sock("a", "ua")], now, 60_000);
    remember(m, [sock("b", "ub")], now + 30_000, 60_000);
    remember(m, [sock("a", "ua")], now + 40_000, 60_000); // re-shed: moves to the end
    remember(m, [], now + 95_000, 60_000);
    expect([...m.users.keys()]).toEqual(["ua"]);
    expect(m.devices.has(deviceKey("ua", "d1"))).toBe(true);
  });
});
