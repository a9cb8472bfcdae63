// Whom to shed: a pure choice among this pod's sockets, so that nothing is lost and little is disturbed.
//
// - Never a socket with a handler in flight (its answer would be lost with the transport; the client
//   would have to retry) and never one younger than MIN_AGE_MS (it may still be re-joining its rooms
//   and fetching what it missed after its last reconnect).
// - Never a device this pod shed within `landedBackCooldownMs`: a shed client that the Service sends
//   straight back is accepted and left alone, so a balancer that keeps sending clients back (session
//   affinity, a single ready pod) costs each client at most one reconnect per cooldown, not a storm.
// - One device of a user at a time: no two sockets of one user in one pick, and none of a user whose
//   other device was shed within `userCooldownMs` (longer than a reconnect, so the first device is back
//   before the second goes and presence never drops to zero devices for longer than its grace).
// - Random among the rest: no client is the designated victim of every rebalance.

export interface ShedCandidate {
  id: string;
  userId: string;
  deviceId: string;
  connectedAt: number;
  /** Handlers of this socket still running. */
  inflight: number;
}

export interface ShedMemory {
  /** deviceKey(userId, deviceId) -> when this pod shed it. */
  devices: Map<string, number>;
  /** userId -> when this pod last shed one of the user's devices. */
  users: Map<string, number>;
}

export interface PickOptions {
  now: number;
  landedBackCooldownMs: number;
  userCooldownMs: number;
  random?: () => number;
}

/** A socket connected this recently may still be catching up (room re-join, unacked fetch). */
export const MIN_AGE_MS = 2000;

export const deviceKey = (userId: string, deviceId: string): string => `${userId}\u0000${deviceId}`;

export function pickSockets(candidates: readonly ShedCandidate[], count: number, memory: ShedMemory, o: PickOptions): ShedCandidate[] {
  if (count <= 0) return [];
  const recent = (at: number | undefined, windowMs: number) => at !== undefined && o.now - at < windowMs;
  const eligible = candidates.filter(
    (c) =>
      c.inflight === 0 &&
      o.now - c.connectedAt >= MIN_AGE_MS &&
      !recent(memory.devices.get(deviceKey(c.userId, c.deviceId)), o.landedBackCooldownMs) &&
      !recent(memory.users.get(c.userId), o.userCooldownMs),
  );
  const random = o.random ?? Math.random;
  const picked: ShedCandidate[] = [];
  const users = new Set<string>();
  // Partial Fisher-Yates: only as many draws as needed.
  for (let i = 0; i < eligible.length && picked.length < count; i++) {
    const j = i + Math.floor(random() * (eligible.length - i));
    [eligible[i], eligible[j]] = [eligible[j]!, eligible[i]!];
    const c = eligible[i]!;
    if (users.has(c.userId)) continue;
    users.add(c.userId);
    picked.push(c);
  }
  return picked;
}

/** Records a shed and forgets entries older than the longest cooldown (the maps stay bounded by recent sheds). */
export function remember(memory: ShedMemory, picked: readonly ShedCandidate[], now: number, forgetAfterMs: number): void {
  // Delete before set: a Map keeps first-insertion order, and the pruning below relies on time order.
  const touch = (map: Map<string, number>, key: string) => {
    map.delete(key);
    map.set(key, now);
  };
  for (const c of picked) {
    touch(memory.devices, deviceKey(c.userId, c.deviceId));
    touch(memory.users, c.userId);
  }
  for (const map of [memory.devices, memory.users]) {
    for (const [k, at] of map) {
      if (now - at < forgetAfterMs) break;
      map.delete(k);
    }
  }
}
