// Whether this pod sheds connections, and how many right now: a pure function of the fleet view and time.
//
// The rules (SPEC.md, Rebalancing), and the guards a platform team expects against oscillation:
// - The mean is taken over eligible pods only (started, not draining, shared store reachable; see
//   PodLoad.eligible). A pod that is not ready yet or draining does not anchor the mean: the Service
//   sends it nothing, so counting its zero would make every other pod shed clients that can only land
//   on each other. Dead pods are absent (the FleetLoad TTL) and leave the mean with them.
// - Start: more than mean x (1 + tolerance) AND at least MIN_EXCESS above the mean, without a break,
//   for `afterMs`. Stop: at or below mean x (1 + tolerance / 2) (never below mean + 1). The gap between
//   the two is the hysteresis: a pod that just stopped needs a new stretch of `afterMs` over the upper
//   line to start again, and it never sheds itself below the mean, so it never becomes the cold pod
//   that others shed towards. Pods only push: no pod pulls, refuses or redirects clients.
// - MIN_EXCESS keeps small counts still: with 3 clients on 2 pods, moving one would only swap the roles.
// - Rate: at most `maxPerS` sockets per second, with at most one second's worth of credit, and no new
//   shed while the fleet is missing `maxPerS` or more clients (shed, not yet reconnected anywhere): the
//   pod's own count drops the moment it sheds, long before the clients land, and a pod that went on
//   shedding until its count reached the stop line would overshoot by rate x reconnect time.
// - Budget: one stretch of shedding closes at most 2 x the excess it started with (connections - mean).
//   With a Service that spreads evenly, shed clients land back on busy pods in proportion to their
//   number (half of them after 2 -> 4 pods), so reaching the stop line takes about 2 x what has to
//   move; the budget bounds the disturbance when the balancer sends more of them back than that.
//   A stretch that spends its budget without reaching the stop line doubles the wait before the next
//   one (up to 8 x afterMs): a balancer that keeps sending clients back (session affinity) meets an
//   ever slower pod, not a reconnect storm. Reaching the stop line or dropping under the upper line resets it.
import type { PodLoad } from "../cluster/fleet-load.js";

export interface RebalanceSettings {
  tolerance: number;
  afterMs: number;
  maxPerS: number;
}

/** Connections above the mean a pod must hold before it counts as over (small fleets stay still). */
export const MIN_EXCESS = 2;

export interface DecisionState {
  /** Start of the current uninterrupted stretch above the upper line (undefined: not over). */
  overSince?: number;
  shedding: boolean;
  /** Sockets this pod may still shed under the rate limit (fractional, carried between ticks). */
  credit: number;
  /** Sockets this stretch of shedding may still close (see Budget above). */
  budget?: number;
  /** afterMs multiplier after spent budgets (1, 2, 4, 8). */
  backoff?: number;
  lastTickAt?: number;
}

export const initialState = (): DecisionState => ({ shedding: false, credit: 0 });

export type DecisionReason = "not_eligible" | "no_fleet" | "balanced" | "over_waiting" | "shedding" | "reached_target" | "budget_spent" | "waiting_for_landing";

export interface Decision {
  state: DecisionState;
  /** Sockets to shed now. */
  shed: number;
  reason: DecisionReason;
  /** Over the eligible pods (undefined when there is no fleet to compare with). */
  mean?: number;
  /** Start line: mean x (1 + tolerance). */
  upper?: number;
  /** Stop line: where shedding ends. */
  target?: number;
  /** Eligible pods counted in the mean, this one included. */
  pods: number;
}

export interface DecisionInput {
  now: number;
  /** This pod, with its exact local count (the fleet's copy of it may be a publish old). */
  self: PodLoad;
  /** The fleet as the FleetLoad lists it (this pod's own entry, if present, is replaced by `self`). */
  fleet: readonly PodLoad[];
  settings: RebalanceSettings;
  state: DecisionState;
  /** Clients the fleet lost lately and has not seen again (recent peak of the fleet total minus the total now). */
  inFlight?: number;
}

export interface FleetMean {
  mean: number;
  pods: number;
}

/** Mean connections over eligible pods, with `self` standing in for its own (possibly stale) entry. */
export function fleetMean(self: PodLoad, fleet: readonly PodLoad[]): FleetMean {
  const counted = fleet.filter((p) => p.eligible && p.podId !== self.podId);
  if (self.eligible) counted.push(self);
  const total = counted.reduce((sum, p) => sum + p.connections, 0);
  return { mean: counted.length ? total / counted.length : 0, pods: counted.length };
}

export function decide(input: DecisionInput): Decision {
  const { now, self, settings } = input;
  const still = (reason: DecisionReason, extra: Partial<Decision> = {}): Decision => ({
    state: { shedding: false, credit: 0, lastTickAt: now },
    shed: 0,
    reason,
    pods: 0,
    ...extra,
  });
  if (!self.eligible) return still("not_eligible");
  const { mean, pods } = fleetMean(self, input.fleet);
  if (pods < 2) return still("no_fleet", { pods });

  const upper = mean * (1 + settings.tolerance);
  const target = Math.max(mean * (1 + settings.tolerance / 2), mean + 1);
  const lines = { mean, upper, target, pods };
  const over = self.connections > upper && self.connections - mean >= MIN_EXCESS;
  const prev = input.state;

  if (!prev.shedding) {
    if (!over) return still("balanced", lines);
    const overSince = prev.overSince ?? now;
    const backoff = prev.backoff ?? 1;
    if (now - overSince < settings.afterMs * backoff)
      return { state: { shedding: false, credit: 0, overSince, backoff, lastTickAt: now }, shed: 0, reason: "over_waiting", ...lines };
    // The stretch is long enough: shed from this tick on, starting with one socket's worth of credit.
    const budget = Math.ceil(2 * (self.connections - mean));
    return shedNow({ shedding: true, credit: 1, budget, backoff, overSince, lastTickAt: now }, self.connections, target, lines);
  }

  if (self.connections <= target) return still("reached_target", lines);
  // Budget spent: stop; if still over the upper line, a new stretch starts after afterMs, with a new budget.
  if ((prev.budget ?? 0) <= 0) {
    const backoff = Math.min(8, 2 * (prev.backoff ?? 1));
    return { state: { shedding: false, credit: 0, backoff, lastTickAt: now }, shed: 0, reason: "budget_spent", ...lines };
  }
  const elapsed = Math.min(1000, Math.max(0, now - (prev.lastTickAt ?? now)));
  const credit = Math.min(Math.max(1, settings.maxPerS), prev.credit + (settings.maxPerS * elapsed) / 1000);
  const next: DecisionState = { shedding: true, credit, budget: prev.budget, backoff: prev.backoff, overSince: prev.overSince, lastTickAt: now };
  if ((input.inFlight ?? 0) >= Math.max(1, settings.maxPerS)) return { state: next, shed: 0, reason: "waiting_for_landing", ...lines };
  return shedNow(next, self.connections, target, lines);
}

function shedNow(state: DecisionState, connections: number, target: number, lines: Omit<Decision, "state" | "shed" | "reason">): Decision {
  const wanted = Math.ceil(connections - target);
  const shed = Math.max(0, Math.min(Math.floor(state.credit), wanted, state.budget ?? 0));
  return { state: { ...state, credit: state.credit - shed, budget: (state.budget ?? 0) - shed }, shed, reason: "shedding", ...lines };
}
