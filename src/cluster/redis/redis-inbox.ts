// Cluster-mode inbox: one Redis Stream of direct messages per user, acknowledged per device.
//
// Why a stream: entries get time-ordered ids from the server (the same `<ms>-<n>` shape as the memory
// inbox), XTRIM bounds it by length (MAXLEN) and age (MINID) and reports what it dropped, and XRANGE reads
// in order from any id. Per device we keep a floor (every entry up to it is acknowledged) plus the set of
// acknowledged ids above it; the floor advances over the acknowledged prefix, so that set stays small.
// A device without a floor starts at the oldest retained entry. All of a user's keys share one hash tag.
import type { Inbox, StoredMessage } from "../types.js";
import { inboxKeys } from "./keys.js";
import { asArray, asNumber, asString, LuaScript, type RedisOps } from "./redis-ops.js";

const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
const IDS = `local function parse(id) local d = string.find(id, '-', 1, true) return tonumber(string.sub(id, 1, d - 1)), tonumber(string.sub(id, d + 1)) end
local function gt(a, b) local am, as = parse(a) local bm, bs = parse(b) return am > bm or (am == bm and as > bs) end`;

// KEYS: log, floors. ARGV: JSON, maxLength, maxAgeMs, keyTtlMs. Returns [id, trimmed].
const APPEND = new LuaScript(
  "inbox.append",
  `${NOW}
local id = redis.call('XADD', KEYS[1], '*', 'm', ARGV[1])
local trimmed = redis.call('XTRIM', KEYS[1], 'MAXLEN', tonumber(ARGV[2]))
trimmed = trimmed + redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {id, trimmed}`,
);

// KEYS: log, floors, acked. ARGV: deviceId, limit, maxAgeMs. Returns [trimmed, id, json, id, json, ...].
const UNACKED = new LuaScript(
  "inbox.unacked",
  `${NOW}
local trimmed = redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[3]))
local floor = redis.call('HGET', KEYS[2], ARGV[1])
local start = '-'
if floor then start = '(' .. floor end
local limit = tonumber(ARGV[2])
local out = {trimmed}
local found = 0
while found < limit do
  local batch = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 256)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    if not redis.call('ZSCORE', KEYS[3], e[1]) then
      table.insert(out, e[1])
      table.insert(out, e[2][2])
      found = found + 1
      if found >= limit then break end
    end
  end
  start = '(' .. batch[#batch][1]
end
return out`,
);

// KEYS: log, floors, acked. ARGV: deviceId, keyTtlMs, ids... Returns how many ids were newly acknowledged.
const ACK = new LuaScript(
  "inbox.ack",
  `${IDS}
local floor = redis.call('HGET', KEYS[2], ARGV[1])
local count = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  if (not floor or gt(id, floor)) and #redis.call('XRANGE', KEYS[1], id, id) == 1 then
    local ms = parse(id)
    if redis.call('ZADD', KEYS[3], ms, id) == 1 then count = count + 1 end
  end
end
-- Advance the floor over the acknowledged prefix and drop what it now covers.
local start = '-'
if floor then start = '(' .. floor end
local advanced = floor
local open = true
while open do
  local batch = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 256)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    if redis.call('ZSCORE', KEYS[3], e[1]) then advanced = e[1] else open = false break end
  end
  start = '(' .. batch[#batch][1]
end
if advanced and advanced ~= floor then
  redis.call('HSET', KEYS[2], ARGV[1], advanced)
  local ams = parse(advanced)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ams)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], ams, ams)) do
    if not gt(m, advanced) then redis.call('ZREM', KEYS[3], m) end
  end
end
-- Acknowledgements of trimmed entries are dead weight.
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #oldest == 1 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. parse(oldest[1][1])) end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return count`,
);

/** Ids we hand out; anything else cannot be ours and is ignored (XRANGE would reject it). */
const STREAM_ID = /^\d{1,16}-\d{1,16}$/;

export interface RedisInboxOptions {
  maxLength: number;
  maxAgeMs: number;
  /** Called with the number of messages dropped by the length or age bound. */
  onTrim?: (count: number) => void;
}

export class RedisInbox implements Inbox {
  /** Every message is older than maxAgeMs by then, so idle users' keys vanish on their own. */
  private readonly keyTtlMs: number;

  constructor(
    private readonly ops: RedisOps,
    private readonly options: RedisInboxOptions,
  ) {
    this.keyTtlMs = options.maxAgeMs + 60_000;
  }

  async append(userId: string, message: Omit<StoredMessage, "id">): Promise<StoredMessage> {
    const k = inboxKeys(userId, "");
    const reply = asArray(
      await this.ops.eval(APPEND, [k.log, k.floors], [JSON.stringify(message), this.options.maxLength, this.options.maxAgeMs, this.keyTtlMs]),
    );
    this.trimmed(asNumber(reply[1]));
    return { ...message, id: asString(reply[0]) };
  }

  async unacked(userId: string, deviceId: string, limit: number): Promise<StoredMessage[]> {
    if (limit <= 0) return [];
    const k = inboxKeys(userId, deviceId);
    const reply = asArray(await this.ops.eval(UNACKED, [k.log, k.floors, k.acked], [deviceId, limit, this.options.maxAgeMs]));
    this.trimmed(asNumber(reply[0]));
    const out: StoredMessage[] = [];
    for (let i = 1; i + 1 < reply.length; i += 2) {
      const stored = JSON.parse(asString(reply[i + 1])) as Omit<StoredMessage, "id">;
      out.push({ ...stored, id: asString(reply[i]) });
    }
    return out;
  }

  async ack(userId: string, deviceId: string, ids: string[]): Promise<number> {
    const valid = [...new Set(ids.filter((id) => STREAM_ID.test(id)))];
    if (valid.length === 0) return 0;
    const k = inboxKeys(userId, deviceId);
    return asNumber(await this.ops.eval(ACK, [k.log, k.floors, k.acked], [deviceId, this.keyTtlMs, ...valid]));
  }

  /** The connection belongs to the service factory, which closes it. */
  async close(): Promise<void> {}

  private trimmed(n: number): void {
    if (n > 0) this.options.onTrim?.(n);
  }
}
