// The seam through which pods share what rebalancing needs (connection counts, who is being moved).

/** One pod's load as it published it. */
export interface PodLoad {
  podId: string;
  /** Socket.IO connections open on the pod when it published. */
  connections: number;
  /**
   * True when the pod takes part in the fleet mean: it accepts new clients (started, not draining,
   * its shared store reachable). A pod that is only refusing because it is at capacity stays eligible:
   * it is the hottest pod, not an absent one.
   */
  eligible: boolean;
  /** True while the pod sheds connections (diagnostics, and so a shedding pod is never taken for a cold one). */
  shedding: boolean;
}

/**
 * The fleet's connection counts, shared between pods.
 * Guarantees: `publish` records (or replaces) one pod's load; `list` returns, once each, every pod whose
 * last publish is younger than `ttlMs`, with what it published last. A pod that stops publishing
 * (crash, partition, kill -9) drops out of `list` at most `ttlMs` after its last publish; `remove`
 * drops it at once (clean shutdown). Expiry uses the store's clock (Redis TIME in cluster mode), so
 * pods with skewed clocks agree. Staleness: an entry is as old as its pod's publish interval (plus one
 * store round trip); callers must treat counts as estimates and act slowly (see src/rebalance).
 * An unreachable store rejects (UNAVAILABLE): callers then decide nothing rather than decide on old data.
 */
export interface FleetLoad {
  readonly ttlMs: number;
  publish(load: PodLoad): Promise<void>;
  list(): Promise<PodLoad[]>;
  remove(podId: string): Promise<void>;
  /**
   * Claims the right to shed one device of a user for `ttlMs`, fleet-wide: true for exactly one caller
   * until the claim expires, so no two pods move two devices of one user at the same time (presence
   * stays online through the other device).
   */
  claimUser(userId: string, ttlMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** How often each pod publishes its load: the staleness bound of every entry. */
export const FLEET_LOAD_PUBLISH_EVERY_MS = 1000;
/** A pod silent for this long is dead to the fleet (five missed publishes: survives GC pauses and a slow Redis). */
export const FLEET_LOAD_TTL_MS = 5000;
