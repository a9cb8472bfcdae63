// Cluster-mode presence: per (room, user) socket entries owned by a pod, kept alive by heartbeats, in Redis.
//
// Each room has five keys under one hash tag (see keys.ts): a ZSET of socket entries scored by their expiry,
// a HASH of socket counts per user, a ZSET of online user ids (paged by user id), a ZSET of users inside the
// grace period and a HASH with the room's mode and occupancy claim. Every transition is decided inside one
// Lua script on the room's slot, so exactly one caller cluster-wide sees it, and every script reads counts
// with ZCARD and touches only the entries it changes or the page it returns: no whole-set reads per call.
// Times come from the Redis server clock (TIME), so pods with skewed clocks agree on expiry.
//
// Crash bound: a pod refreshes its entries and its `pods` entry every heartbeat; after kill -9 its entries
// expire presenceTtlMs after its last heartbeat, the next heartbeat of any live pod reaps them (at most one
// heartbeat interval later) and reports the users left without a socket, which go offline after the grace
// period: offline <= crash + presenceTtlMs + heartbeat interval + presenceGraceMs.
import { GatewayError } from "../../errors.js";
import type {
  HeartbeatOutcome,
  OccupancyClaim,
  PresenceEntry,
  PresenceChange,
  PresenceMode,
  PresenceModeLimits,
  PresencePage,
  PresenceStore,
  PresenceUser,
} from "../types.js";
import { presenceKeys, presencePodRoomsKey, presencePodsKey } from "./keys.js";
import { asArray, asNumber, asString, LuaScript, type RedisOps } from "./redis-ops.js";

const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
/** Member -> userId: the user id is everything before the first newline. */
const USER_OF = `local function userOf(m) return string.sub(m, 1, string.find(m, '\\n', 1, true) - 1) end`;
/** Entries removed per prune at most: a mass expiry is spread over several heartbeats instead of one long script. */
const PRUNE_BATCH = 2000;
/** Pending users examined per heartbeat and room at most (the oldest first). */
const PENDING_BATCH = 500;
/** Socket entries refreshed per script call: a big room's heartbeat (and rebuild) is paged, never one long script. */
const REFRESH_BATCH = 500;

/**
 * Removes expired entries of the room (any pod), keeps counts right, starts the grace period of users
 * left without a socket and returns them, after a flag: 1 when the room is in occupancy mode and its counts
 * changed, so the caller claims a `presence:occupancy` (nobody else would: no join or leave happened).
 * Shared by the heartbeat refresh and the dead-pod reap. KEYS: sockets, users, members, pending, meta.
 */
const PRUNE = `${USER_OF}
local function prune(now)
  local emptied = {0}
  local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ${PRUNE_BATCH})
  if #dead > 0 and redis.call('HGET', KEYS[5], 'mode') == 'occupancy' then
    redis.call('HSET', KEYS[5], 'dirty', 1)
    emptied[1] = 1
  end
  for _, m in ipairs(dead) do
    redis.call('ZREM', KEYS[1], m)
    local u = userOf(m)
    if redis.call('HINCRBY', KEYS[2], u, -1) <= 0 then
      redis.call('HDEL', KEYS[2], u)
      if redis.call('ZSCORE', KEYS[3], u) and not redis.call('ZSCORE', KEYS[4], u) then
        redis.call('ZADD', KEYS[4], now, u)
        table.insert(emptied, u)
      end
    end
  end
  return emptied
end`;

/**
 * Reads the counts after a change, applies the mode hysteresis (counting mode switches in 'epoch') and marks
 * the counts for the next occupancy claim. KEYS: sockets, users, members, pending, meta. ARGV[1], ARGV[2]:
 * fullMaxUsers, fullResumeUsers. Returns [transition, users, devices, mode, occupancyDue, modeEpoch].
 */
const FINISH = `local function counts() return redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[1]) end
local function finish(transition, bu, bd)
  local users, devices = counts()
  local meta = redis.call('HMGET', KEYS[5], 'mode', 'dirty', 'epoch')
  local mode = meta[1] or 'full'
  local dirty = meta[2] == '1'
  local epoch = tonumber(meta[3] or '0')
  local nextMode = mode
  if mode == 'full' and users > tonumber(ARGV[1]) then nextMode = 'occupancy'
  elseif mode == 'occupancy' and users <= tonumber(ARGV[2]) then nextMode = 'full' end
  if nextMode ~= mode then dirty = true epoch = epoch + 1
  elseif nextMode == 'occupancy' and (users ~= bu or devices ~= bd) then dirty = true end
  if users == 0 and devices == 0 and nextMode == 'full' then
    redis.call('DEL', KEYS[5])
    return {transition, users, devices, 'full', 0, 0}
  end
  if nextMode ~= mode or (dirty and meta[2] ~= '1') then redis.call('HSET', KEYS[5], 'mode', nextMode, 'dirty', dirty and 1 or 0, 'epoch', epoch) end
  return {transition, users, devices, nextMode, dirty and 1 or 0, epoch}
end`;

// KEYS: sockets, users, members, pending, meta. ARGV: fullMax, resume, userId, member, ttlMs.
const JOIN = new LuaScript(
  "presence.join",
  `${NOW}
${FINISH}
local bu, bd = counts()
if redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[4]) == 1 then redis.call('HINCRBY', KEYS[2], ARGV[3], 1) end
local went = 0
if redis.call('ZADD', KEYS[3], 'NX', 0, ARGV[3]) == 1 then went = 1 else redis.call('ZREM', KEYS[4], ARGV[3]) end
return finish(went, bu, bd)`,
);

// KEYS: sockets, users, members, pending, meta. ARGV: fullMax, resume, userId, member. Transition: no socket left.
const LEAVE = new LuaScript(
  "presence.leave",
  `${NOW}
${FINISH}
local bu, bd = counts()
local removed = redis.call('ZREM', KEYS[1], ARGV[4])
if not redis.call('ZSCORE', KEYS[3], ARGV[3]) then return finish(0, bu, bd) end
local count
if removed == 1 then count = redis.call('HINCRBY', KEYS[2], ARGV[3], -1) else count = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0') end
if count > 0 then return finish(0, bu, bd) end
redis.call('HDEL', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[4], 'NX', now, ARGV[3])
return finish(1, bu, bd)`,
);

// KEYS: sockets, users, members, pending, meta. ARGV: fullMax, resume, userId. Transition, once: still absent, now offline.
const SETTLE = new LuaScript(
  "presence.settle",
  `${FINISH}
local bu, bd = counts()
if not redis.call('ZSCORE', KEYS[4], ARGV[3]) then return finish(0, bu, bd) end
if tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0') > 0 then return finish(0, bu, bd) end
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('HDEL', KEYS[2], ARGV[3])
return finish(1, bu, bd)`,
);

// KEYS: members, users, sockets, meta. ARGV: after ('' = from the start), limit.
// Returns [users, devices, mode, more, userId, devices, ...]: one page, in user id order.
const PAGE = new LuaScript(
  "presence.page",
  `local min = '-'
if ARGV[1] ~= '' then min = '(' .. ARGV[1] end
local limit = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYLEX', KEYS[1], min, '+', 'LIMIT', 0, limit + 1)
local out = {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[3]), redis.call('HGET', KEYS[4], 'mode') or 'full', #ids > limit and 1 or 0}
if #ids > limit then table.remove(ids) end
if #ids == 0 then return out end
-- One HMGET for the whole page: a call per user costs more in command dispatch than in the lookups.
local counts = redis.call('HMGET', KEYS[2], unpack(ids))
for i = 1, #ids do
  table.insert(out, ids[i])
  table.insert(out, tonumber(counts[i] or '0'))
end
return out`,
);

// KEYS: meta, members, sockets. ARGV: intervalMs. Returns [1, mode, users, devices] (claimed) or [0, waitMs] (-1: nothing to emit).
const CLAIM = new LuaScript(
  "presence.claim",
  `${NOW}
local meta = redis.call('HMGET', KEYS[1], 'dirty', 'last', 'mode')
if meta[1] ~= '1' then return {0, -1} end
local wait = tonumber(meta[2] or '0') + tonumber(ARGV[1]) - now
if wait > 0 then return {0, wait} end
redis.call('HSET', KEYS[1], 'dirty', 0, 'last', now)
return {1, meta[3] or 'full', redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3])}`,
);

// KEYS: sockets, users, members, pending, meta. ARGV: ttlMs, stalePendingMs (0 = skip the pending check), then
// userId, member pairs of this pod's live sockets (one batch). Extends this pod's entries, silently re-adds missing
// ones (after a reap or a Redis restart the sockets are still connected: clients never saw them go), prunes expired
// entries of every pod, and returns PRUNE's occupancy flag, then the users without a socket: just emptied, or
// pending longer than grace + TTL (whoever ran their grace timer is gone).
const REFRESH = new LuaScript(
  "presence.refresh",
  `${NOW}
${PRUNE}
local expiry = now + tonumber(ARGV[1])
for i = 3, #ARGV, 2 do
  local u = ARGV[i]
  if redis.call('ZADD', KEYS[1], expiry, ARGV[i + 1]) == 1 then redis.call('HINCRBY', KEYS[2], u, 1) end
  if redis.call('ZADD', KEYS[3], 'NX', 0, u) == 0 then redis.call('ZREM', KEYS[4], u) end
end
local out = prune(now)
if tonumber(ARGV[2]) > 0 then
  for _, u in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[2]), 'LIMIT', 0, ${PENDING_BATCH})) do
    if tonumber(redis.call('HGET', KEYS[2], u) or '0') <= 0 then table.insert(out, u) end
  end
end
return out`,
);

// KEYS: sockets, users, members, pending, meta (a room of a dead pod). Prunes expired entries and returns PRUNE's
// occupancy flag, then users left without a socket, pending ones included: the dead pod may have been the one
// running their grace timer.
const REAP = new LuaScript(
  "presence.reap",
  `${NOW}
${PRUNE}
local out = prune(now)
for _, u in ipairs(redis.call('ZRANGE', KEYS[4], 0, ${PENDING_BATCH - 1})) do
  if tonumber(redis.call('HGET', KEYS[2], u) or '0') <= 0 then table.insert(out, u) end
end
return out`,
);

// KEYS: pods. ARGV: podId, ttlMs, maxDead. Extends this pod; returns [wasMissing, deadPod...].
const POD_BEAT = new LuaScript(
  "presence.pod",
  `${NOW}
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
table.insert(dead, 1, added)
return dead`,
);

// KEYS: pods. ARGV: podId. Forgets a reaped pod unless it came back meanwhile (a long pause, not a crash).
const POD_FORGET = new LuaScript(
  "presence.forget",
  `${NOW}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= now then redis.call('ZREM', KEYS[1], ARGV[1]) return 1 end
return 0`,
);

// KEYS: pods. ARGV: podId. Marks this pod expired on a clean close, so the others reap what is left at once.
const POD_EXPIRE = new LuaScript("presence.expire", `redis.call('ZADD', KEYS[1], 'XX', 0, ARGV[1]) return 1`);

export interface RedisPresenceOptions {
  /** Unique per process; owns this instance's entries. */
  podId: string;
  ttlMs: number;
  graceMs: number;
  /** Dead pods reaped per heartbeat at most: spreads the work of a mass crash over several beats. */
  maxReapPerBeat?: number;
  limits: PresenceModeLimits;
}

type Pair = { room: string; userId: string };
const modeOf = (v: unknown): PresenceMode => (asString(v) === "occupancy" ? "occupancy" : "full");
/** Decodes FINISH's [transition, users, devices, mode, occupancyDue, modeEpoch]. */
function changeOf(reply: unknown): PresenceChange {
  const r = asArray(reply);
  return {
    transition: asNumber(r[0]) === 1,
    users: asNumber(r[1]),
    devices: asNumber(r[2]),
    mode: modeOf(r[3]),
    occupancyDue: asNumber(r[4]) === 1,
    modeEpoch: asNumber(r[5]),
  };
}
const pairKey = (room: string, userId: string) => `${room}\u0000${userId}`;

export class RedisPresence implements PresenceStore {
  /** This pod's sockets per room (socketKey -> userId): the source of truth for refreshes and rebuilds. */
  private readonly local = new Map<string, Map<string, string>>();
  /** Rooms believed listed in this pod's rooms set in Redis. */
  private readonly published = new Set<string>();
  /** Registrations sent and not answered yet, so a storm into a new room sends one, not one per join. */
  private readonly publishing = new Map<string, Promise<void>>();
  /** Offline candidates reported to this pod and not settled yet (local ms when reported). */
  private readonly pending = new Map<string, Pair & { since: number }>();
  private beating?: Promise<HeartbeatOutcome>;
  private registered = false;
  private closed = false;

  constructor(
    private readonly ops: RedisOps,
    private readonly options: RedisPresenceOptions,
  ) {}

  async join(room: string, userId: string, socketKey: string): Promise<PresenceChange> {
    // Recorded locally first: the socket is in the room even if Redis fails now, and the next heartbeat
    // (or the rebuild after an outage) writes it.
    let sockets = this.local.get(room);
    if (!sockets) this.local.set(room, (sockets = new Map()));
    sockets.set(socketKey, userId);
    if (!this.published.has(room)) this.publish(room);
    const k = presenceKeys(room);
    return changeOf(await this.ops.eval(JOIN, this.roomKeys(k), [...this.limitArgs(), userId, this.member(userId, socketKey), this.options.ttlMs]));
  }

  async leave(room: string, userId: string, socketKey: string): Promise<PresenceChange> {
    const sockets = this.local.get(room);
    sockets?.delete(socketKey);
    if (sockets?.size === 0) this.local.delete(room);
    const k = presenceKeys(room);
    const change = changeOf(await this.ops.eval(LEAVE, this.roomKeys(k), [...this.limitArgs(), userId, this.member(userId, socketKey)]));
    if (change.transition) this.pending.set(pairKey(room, userId), { room, userId, since: Date.now() });
    return change;
  }

  async settleOffline(room: string, userId: string): Promise<PresenceChange> {
    const k = presenceKeys(room);
    const change = changeOf(await this.ops.eval(SETTLE, this.roomKeys(k), [...this.limitArgs(), userId]));
    // Settled either way (offline now, or back online): a failed call stays pending and is reported again.
    this.pending.delete(pairKey(room, userId));
    return change;
  }

  async page(room: string, limit: number, after?: string): Promise<PresencePage> {
    const k = presenceKeys(room);
    const flat = asArray(await this.ops.eval(PAGE, [k.members, k.users, k.sockets, k.meta], [after ?? "", limit]));
    const users: PresenceUser[] = [];
    for (let i = 4; i + 1 < flat.length; i += 2) users.push({ userId: asString(flat[i]), devices: asNumber(flat[i + 1]) });
    const page: PresencePage = { occupancy: { users: asNumber(flat[0]), devices: asNumber(flat[1]) }, mode: modeOf(flat[2]), users };
    if (asNumber(flat[3]) === 1 && users.length > 0) page.after = users[users.length - 1]!.userId;
    return page;
  }

  async claimOccupancy(room: string, intervalMs: number): Promise<OccupancyClaim> {
    const k = presenceKeys(room);
    const r = asArray(await this.ops.eval(CLAIM, [k.meta, k.members, k.sockets], [intervalMs]));
    if (asNumber(r[0]) === 1) return { emit: true, mode: modeOf(r[1]), users: asNumber(r[2]), devices: asNumber(r[3]) };
    const wait = asNumber(r[1]);
    return wait >= 0 ? { emit: false, retryInMs: wait } : { emit: false };
  }

  heartbeat(): Promise<HeartbeatOutcome> {
    // One beat at a time: a slow beat is not stacked under the next interval.
    this.beating ??= this.beat().finally(() => (this.beating = undefined));
    return this.beating;
  }

  /**
   * Replaces this pod's view with the sockets actually connected (after Redis came back, possibly empty)
   * and writes it without emitting transitions: those users never looked offline to their rooms' members.
   * Entries this pod no longer has are removed; users they leave without a socket are reported by the
   * next heartbeat.
   */
  async rebuild(entries: PresenceEntry[]): Promise<void> {
    const next = new Map<string, Map<string, string>>();
    for (const e of entries) {
      let sockets = next.get(e.room);
      if (!sockets) next.set(e.room, (sockets = new Map()));
      sockets.set(e.socketKey, e.userId);
    }
    const stale: PresenceEntry[] = [];
    for (const [room, sockets] of this.local)
      for (const [socketKey, userId] of sockets) if (!next.get(room)?.has(socketKey)) stale.push({ room, userId, socketKey });
    this.local.clear();
    for (const [room, sockets] of next) this.local.set(room, sockets);
    // Redis may have lost everything: publish every room again and re-register this pod.
    this.published.clear();
    // A failed removal only delays cleanup: expired entries are pruned by any pod refreshing that room.
    await Promise.allSettled(stale.map((e) => this.leave(e.room, e.userId, e.socketKey)));
    await this.heartbeat();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.beating?.catch(() => undefined);
    // Best effort: whatever is left is reaped by the next heartbeat of another pod instead of after the TTL.
    await this.ops.eval(POD_EXPIRE, [presencePodsKey], [this.options.podId]).catch(() => undefined);
    this.local.clear();
    this.pending.clear();
  }

  /**
   * Before the entry itself: after a crash, the reaper must find this pod and every room it wrote to, even
   * if it dies before its first heartbeat. Sent, not awaited: the registration goes out on the command
   * connection ahead of the join's script, which Redis runs after it, so a join never waits for it and never
   * fails because of it (a storm's joins awaiting one shared registration all failed when that one call did).
   * One registration per room in flight; a failed one is retried by the next join or heartbeat (`published`
   * stays unset), and entries written meanwhile are still pruned by any pod refreshing the room.
   */
  private publish(room: string): void {
    if (this.publishing.has(room)) return;
    const sent: Array<Promise<unknown>> = [];
    if (!this.registered) sent.push(this.ops.eval(POD_BEAT, [presencePodsKey], [this.options.podId, this.options.ttlMs, 0]));
    sent.push(this.ops.run("presence.pod-rooms", (c) => c.sadd(presencePodRoomsKey(this.options.podId), room)));
    const p = Promise.all(sent).then(
      () => {
        this.registered = true;
        this.published.add(room);
      },
      () => undefined,
    );
    this.publishing.set(room, p);
    void p.finally(() => this.publishing.delete(room));
  }

  private roomKeys(k: ReturnType<typeof presenceKeys>): string[] {
    return [k.sockets, k.users, k.members, k.pending, k.meta];
  }

  private limitArgs(): number[] {
    return [this.options.limits.fullMaxUsers, this.options.limits.fullResumeUsers];
  }

  private member(userId: string, socketKey: string): string {
    return `${userId}\n${this.options.podId}\n${socketKey}`;
  }

  private async beat(): Promise<HeartbeatOutcome> {
    if (this.closed) throw new GatewayError("UNAVAILABLE", "presence is closed");
    const { podId, ttlMs, graceMs } = this.options;
    const found = new Map<string, Pair>();
    const recounted = new Set<string>();
    /** Reads a PRUNE reply: the occupancy flag, then the users left without a socket. */
    const add = (room: string, reply: unknown) => {
      const [due, ...userIds] = asArray(reply);
      if (asNumber(due) === 1) recounted.add(room);
      for (const u of userIds) {
        const userId = asString(u);
        found.set(pairKey(room, userId), { room, userId });
      }
    };

    const beat = asArray(await this.ops.eval(POD_BEAT, [presencePodsKey], [podId, ttlMs, this.options.maxReapPerBeat ?? 10]));
    // Our pods entry was missing: Redis restarted empty or another pod reaped us during a long pause.
    if (asNumber(beat[0]) === 1) this.published.clear();
    this.registered = true;
    const deadPods = beat
      .slice(1)
      .map(asString)
      .filter((p) => p !== podId);

    const roomsKey = presencePodRoomsKey(podId);
    const rooms = new Set([...this.local.keys(), ...[...this.pending.values()].map((p) => p.room)]);
    const toAdd = [...rooms].filter((r) => !this.published.has(r));
    const toRemove = [...this.published].filter((r) => !rooms.has(r));
    if (toAdd.length) {
      await this.ops.run("presence.pod-rooms", (c) => c.sadd(roomsKey, ...toAdd));
      toAdd.forEach((r) => this.published.add(r));
    }
    await Promise.all(
      [...this.local].map(async ([room, sockets]) => {
        const k = presenceKeys(room);
        // Paged: a big room's refresh (and the rebuild after an outage) is many short scripts, not one long one.
        const entries = [...sockets];
        for (let i = 0; i === 0 || i < entries.length; i += REFRESH_BATCH) {
          const args: Array<string | number> = [ttlMs, i === 0 ? graceMs + ttlMs : 0];
          for (const [socketKey, userId] of entries.slice(i, i + REFRESH_BATCH)) args.push(userId, this.member(userId, socketKey));
          add(room, await this.ops.eval(REFRESH, [k.sockets, k.users, k.members, k.pending, k.meta], args));
        }
      }),
    );
    if (toRemove.length) {
      await this.ops.run("presence.pod-rooms", (c) => c.srem(roomsKey, ...toRemove));
      toRemove.forEach((r) => this.published.delete(r));
    }

    for (const dead of deadPods) {
      const deadRoomsKey = presencePodRoomsKey(dead);
      const deadRooms = (await this.ops.run("presence.dead-rooms", (c) => c.smembers(deadRoomsKey))).map(asString);
      await Promise.all(
        deadRooms.map(async (room) => {
          const k = presenceKeys(room);
          add(room, await this.ops.eval(REAP, [k.sockets, k.users, k.members, k.pending, k.meta], []));
        }),
      );
      await this.ops.run("presence.dead-rooms", (c) => c.del(deadRoomsKey));
      await this.ops.eval(POD_FORGET, [presencePodsKey], [dead]);
    }

    // Candidates whose settle failed (Redis blip) come back once grace + TTL have passed.
    const now = Date.now();
    for (const [key, p] of this.pending) {
      if (now - p.since > graceMs + ttlMs) {
        found.set(key, { room: p.room, userId: p.userId });
        p.since = now;
      }
    }
    for (const [key, p] of found) if (!this.pending.has(key)) this.pending.set(key, { ...p, since: now });
    return { orphans: [...found.values()], recounted: [...recounted] };
  }
}
