// Cluster-mode presence: per (room, user) socket entries owned by a pod, kept alive by heartbeats, in Redis.
//
// Each room has three keys under one hash tag (see keys.ts): a ZSET of socket entries scored by their expiry,
// a HASH of socket counts per user and a HASH of online users (0, or when their last socket left). Every
// transition is decided inside one Lua script on the room's slot, so exactly one caller cluster-wide sees it.
// Times come from the Redis server clock (TIME), so pods with skewed clocks agree on expiry.
//
// Crash bound: a pod refreshes its entries and its `pods` entry every heartbeat; after kill -9 its entries
// expire presenceTtlMs after its last heartbeat, the next heartbeat of any live pod reaps them (at most one
// heartbeat interval later) and reports the users left without a socket, which go offline after the grace
// period: offline <= crash + presenceTtlMs + heartbeat interval + presenceGraceMs.
import { GatewayError } from "../../errors.js";
import type { PresenceEntry, PresenceStore, PresenceUser } from "../types.js";
import { presenceKeys, presencePodRoomsKey, presencePodsKey } from "./keys.js";
import { asArray, asNumber, asString, LuaScript, type RedisOps } from "./redis-ops.js";

const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
/** Member -> userId: the user id is everything before the first newline. */
const USER_OF = `local function userOf(m) return string.sub(m, 1, string.find(m, '\\n', 1, true) - 1) end`;
/**
 * Removes expired entries of the room (any pod), keeps counts right, starts the grace period of users
 * left without a socket and returns them. Shared by the heartbeat refresh and the dead-pod reap.
 */
const PRUNE = `${USER_OF}
local function prune(now)
  local emptied = {}
  local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 10000)
  for _, m in ipairs(dead) do
    redis.call('ZREM', KEYS[1], m)
    local u = userOf(m)
    if redis.call('HINCRBY', KEYS[2], u, -1) <= 0 then
      redis.call('HDEL', KEYS[2], u)
      if redis.call('HGET', KEYS[3], u) == '0' then
        redis.call('HSET', KEYS[3], u, now)
        table.insert(emptied, u)
      end
    end
  end
  return emptied
end`;

// KEYS: sockets, users, online. ARGV: userId, member, ttlMs. Returns 1 when the user went online.
const JOIN = new LuaScript(
  "presence.join",
  `${NOW}
if redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2]) == 1 then redis.call('HINCRBY', KEYS[2], ARGV[1], 1) end
local state = redis.call('HGET', KEYS[3], ARGV[1])
if state ~= '0' then redis.call('HSET', KEYS[3], ARGV[1], 0) end
if state then return 0 end
return 1`,
);

// KEYS: sockets, users, online. ARGV: userId, member. Returns 1 when the user has no socket left (offline candidate).
const LEAVE = new LuaScript(
  "presence.leave",
  `${NOW}
local removed = redis.call('ZREM', KEYS[1], ARGV[2])
local state = redis.call('HGET', KEYS[3], ARGV[1])
if not state then return 0 end
local count
if removed == 1 then count = redis.call('HINCRBY', KEYS[2], ARGV[1], -1) else count = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') end
if count > 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if state == '0' then redis.call('HSET', KEYS[3], ARGV[1], now) end
return 1`,
);

// KEYS: sockets, users, online. ARGV: userId. Returns 1, once, when the user is still absent and now offline.
const SETTLE = new LuaScript(
  "presence.settle",
  `local state = redis.call('HGET', KEYS[3], ARGV[1])
if not state or state == '0' then return 0 end
if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') > 0 then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1`,
);

// KEYS: sockets, users, online. Returns [userId, liveSockets, ...] for the online users; expired entries do not count.
const LIST = new LuaScript(
  "presence.list",
  `${NOW}
${USER_OF}
local counts = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local u = userOf(m)
  counts[u] = (counts[u] or 0) + 1
end
local out = {}
local online = redis.call('HKEYS', KEYS[3])
for _, u in ipairs(online) do
  table.insert(out, u)
  table.insert(out, counts[u] or 0)
end
return out`,
);

// KEYS: sockets, users, online. ARGV: ttlMs, stalePendingMs, then userId, member pairs of this pod's live sockets.
// Extends this pod's entries, silently re-adds missing ones (after a reap or a Redis restart the sockets are
// still connected: clients never saw them go), prunes expired entries of every pod, and returns the users
// without a socket: just emptied, or pending longer than grace + TTL (whoever ran their grace timer is gone).
const REFRESH = new LuaScript(
  "presence.refresh",
  `${NOW}
${PRUNE}
local expiry = now + tonumber(ARGV[1])
for i = 3, #ARGV, 2 do
  local u = ARGV[i]
  if redis.call('ZADD', KEYS[1], expiry, ARGV[i + 1]) == 1 then redis.call('HINCRBY', KEYS[2], u, 1) end
  if redis.call('HGET', KEYS[3], u) ~= '0' then redis.call('HSET', KEYS[3], u, 0) end
end
local out = prune(now)
local stale = now - tonumber(ARGV[2])
local pending = redis.call('HGETALL', KEYS[3])
for i = 1, #pending, 2 do
  local since = tonumber(pending[i + 1])
  if since ~= 0 and since < stale and tonumber(redis.call('HGET', KEYS[2], pending[i]) or '0') <= 0 then table.insert(out, pending[i]) end
end
return out`,
);

// KEYS: sockets, users, online (a room of a dead pod). Prunes expired entries and returns every user left
// without a socket, pending ones included: the dead pod may have been the one running their grace timer.
const REAP = new LuaScript(
  "presence.reap",
  `${NOW}
${PRUNE}
local out = prune(now)
local pending = redis.call('HGETALL', KEYS[3])
for i = 1, #pending, 2 do
  if pending[i + 1] ~= '0' and tonumber(redis.call('HGET', KEYS[2], pending[i]) or '0') <= 0 then table.insert(out, pending[i]) end
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
}

type Pair = { room: string; userId: string };
const pairKey = (room: string, userId: string) => `${room}\u0000${userId}`;

export class RedisPresence implements PresenceStore {
  /** This pod's sockets per room (socketKey -> userId): the source of truth for refreshes and rebuilds. */
  private readonly local = new Map<string, Map<string, string>>();
  /** Rooms believed listed in this pod's rooms set in Redis. */
  private readonly published = new Set<string>();
  /** Offline candidates reported to this pod and not settled yet (local ms when reported). */
  private readonly pending = new Map<string, Pair & { since: number }>();
  private beating?: Promise<Pair[]>;
  private registered = false;
  private closed = false;

  constructor(
    private readonly ops: RedisOps,
    private readonly options: RedisPresenceOptions,
  ) {}

  async join(room: string, userId: string, socketKey: string): Promise<boolean> {
    // Recorded locally first: the socket is in the room even if Redis fails now, and the next heartbeat
    // (or the rebuild after an outage) writes it.
    let sockets = this.local.get(room);
    if (!sockets) this.local.set(room, (sockets = new Map()));
    sockets.set(socketKey, userId);
    if (!this.published.has(room)) {
      // Before the entry itself: after a crash, the reaper must find this pod and every room it wrote to,
      // even if it dies before its first heartbeat.
      if (!this.registered) {
        await this.ops.eval(POD_BEAT, [presencePodsKey], [this.options.podId, this.options.ttlMs, 0]);
        this.registered = true;
      }
      await this.ops.run("presence.pod-rooms", (c) => c.sadd(presencePodRoomsKey(this.options.podId), room));
      this.published.add(room);
    }
    const k = presenceKeys(room);
    const went = await this.ops.eval(JOIN, [k.sockets, k.users, k.online], [userId, this.member(userId, socketKey), this.options.ttlMs]);
    return asNumber(went) === 1;
  }

  async leave(room: string, userId: string, socketKey: string): Promise<boolean> {
    const sockets = this.local.get(room);
    sockets?.delete(socketKey);
    if (sockets?.size === 0) this.local.delete(room);
    const k = presenceKeys(room);
    const empty = asNumber(await this.ops.eval(LEAVE, [k.sockets, k.users, k.online], [userId, this.member(userId, socketKey)])) === 1;
    if (empty) this.pending.set(pairKey(room, userId), { room, userId, since: Date.now() });
    return empty;
  }

  async settleOffline(room: string, userId: string): Promise<boolean> {
    const k = presenceKeys(room);
    const offline = asNumber(await this.ops.eval(SETTLE, [k.sockets, k.users, k.online], [userId])) === 1;
    // Settled either way (offline now, or back online): a failed call stays pending and is reported again.
    this.pending.delete(pairKey(room, userId));
    return offline;
  }

  async list(room: string): Promise<PresenceUser[]> {
    const k = presenceKeys(room);
    const flat = asArray(await this.ops.eval(LIST, [k.sockets, k.users, k.online], []));
    const users: PresenceUser[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) users.push({ userId: asString(flat[i]), devices: asNumber(flat[i + 1]) });
    return users;
  }

  heartbeat(): Promise<Pair[]> {
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

  /** Rooms with entries of this pod (tests and diagnostics). */
  localRooms(): string[] {
    return [...this.local.keys()];
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

  private member(userId: string, socketKey: string): string {
    return `${userId}\n${this.options.podId}\n${socketKey}`;
  }

  private async beat(): Promise<Pair[]> {
    if (this.closed) throw new GatewayError("UNAVAILABLE", "presence is closed");
    const { podId, ttlMs, graceMs } = this.options;
    const found = new Map<string, Pair>();
    const add = (room: string, userIds: unknown) => {
      for (const u of asArray(userIds)) {
        const userId = asString(u);
        found.set(pairKey(room, userId), { room, userId });
      }
    };

    const beat = asArray(await this.ops.eval(POD_BEAT, [presencePodsKey], [podId, ttlMs, this.options.maxReapPerBeat ?? 10]));
    // Our pods entry was missing: Redis restarted empty or another pod reaped us during a long pause.
    if (asNumber(beat[0]) === 1) this.published.clear();
    this.registered = true;
    const deadPods = beat.slice(1).map(asString).filter((p) => p !== podId);

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
        const args: Array<string | number> = [ttlMs, graceMs + ttlMs];
        for (const [socketKey, userId] of sockets) args.push(userId, this.member(userId, socketKey));
        add(room, await this.ops.eval(REFRESH, [k.sockets, k.users, k.online], args));
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
          add(room, await this.ops.eval(REAP, [k.sockets, k.users, k.online], []));
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
    return [...found.values()];
  }
}
