// Cluster-mode fleet load: each pod's last published load in a HASH, its expiry (Redis server clock) in a ZSET.
// Every script prunes expired pods first, so a dead pod leaves every reader's view once its TTL passes.
import type { FleetLoad, PodLoad } from "../fleet-load.js";
import { fleetLoadKeys, fleetShedClaimKey } from "./keys.js";
import { asArray, asString, LuaScript, type RedisOps } from "./redis-ops.js";

const PRUNE = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, p in ipairs(dead) do redis.call('ZREM', KEYS[1], p); redis.call('HDEL', KEYS[2], p) end`;

// KEYS: expiry, loads. ARGV: podId, JSON, ttlMs. The keys outlive the fleet by 10 TTLs, then vanish.
const PUBLISH = new LuaScript(
  "fleet.publish",
  `${PRUNE}
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl * 10)
redis.call('PEXPIRE', KEYS[2], ttl * 10)
return 1`,
);

// KEYS: expiry, loads. Returns [podId, JSON, podId, JSON, ...] of the live pods.
const LIST = new LuaScript(
  "fleet.list",
  `${PRUNE}
local out = {}
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local v = redis.call('HGET', KEYS[2], p)
  if v then table.insert(out, p); table.insert(out, v) end
end
return out`,
);

// KEYS: expiry, loads. ARGV: podId.
const REMOVE = new LuaScript("fleet.remove", `redis.call('ZREM', KEYS[1], ARGV[1]) redis.call('HDEL', KEYS[2], ARGV[1]) return 1`);

const KEYS = [fleetLoadKeys.expiry, fleetLoadKeys.loads];

export class RedisFleetLoad implements FleetLoad {
  constructor(
    private readonly ops: RedisOps,
    readonly ttlMs: number,
  ) {}

  async publish(load: PodLoad): Promise<void> {
    const { connections, eligible, shedding } = load;
    await this.ops.eval(PUBLISH, KEYS, [load.podId, JSON.stringify({ connections, eligible, shedding }), this.ttlMs]);
  }

  async list(): Promise<PodLoad[]> {
    const flat = asArray(await this.ops.eval(LIST, KEYS, []));
    const out: PodLoad[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const parsed = parseLoad(asString(flat[i]), asString(flat[i + 1]));
      if (parsed) out.push(parsed);
    }
    return out;
  }

  async remove(podId: string): Promise<void> {
    await this.ops.eval(REMOVE, KEYS, [podId]);
  }

  async claimUser(userId: string, ttlMs: number): Promise<boolean> {
    const answer = await this.ops.run("fleet.claim", (client) => client.set(fleetShedClaimKey(userId), "1", "PX", Math.max(1, Math.round(ttlMs)), "NX"));
    return answer === "OK";
  }

  /** The connection belongs to the cluster services, which close it. */
  async close(): Promise<void> {}
}

/** A malformed entry (another version, manual edits) is skipped rather than trusted. */
function parseLoad(podId: string, json: string): PodLoad | undefined {
  try {
    const v = JSON.parse(json) as Partial<PodLoad>;
    if (typeof v.connections !== "number" || !Number.isFinite(v.connections) || v.connections < 0) return undefined;
    return { podId, connections: v.connections, eligible: v.eligible === true, shedding: v.shedding === true };
  } catch {
    return undefined;
  }
}
