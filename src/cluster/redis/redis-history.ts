// Cluster-mode room history: a per-room counter and a bounded sorted set, appended atomically in Lua.
//
// INCR and ZADD run in one script on the room's slot, so sequence numbers are strictly increasing and the
// log has no holes between its oldest entry and the counter. Members are `<seq>|<JSON>`: the prefix keeps
// two identical messages distinct, and the JSON is never re-encoded by Lua (cjson would alter numbers and
// empty arrays). Keys never expire: a reset counter would replay old sequence numbers to clients.
import type { HistorySince, RoomHistory, StoredMessage } from "../types.js";
import { historyKeys } from "./keys.js";
import { asArray, asNumber, asString, LuaScript, type RedisOps } from "./redis-ops.js";

// KEYS: seq, log. ARGV: JSON, maxLength. Returns the new seq.
const APPEND = new LuaScript(
  "history.append",
  `local seq = redis.call('INCR', KEYS[1])
local max = tonumber(ARGV[2])
if max > 0 then
  redis.call('ZADD', KEYS[2], seq, seq .. '|' .. ARGV[1])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(max + 1))
end
return seq`,
);

// KEYS: seq, log. ARGV: since, limit. Returns {1, member...} or {0, oldestSeq} (same rules as MemoryHistory).
const SINCE = new LuaScript(
  "history.since",
  `local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local since = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if since >= last then return {1} end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local oldest = last + 1
if #first == 2 then oldest = tonumber(first[2]) end
if since + 1 < oldest then return {0, oldest} end
-- ARGV[1] is concatenated as sent: Lua would print large numbers in exponent notation.
local after = '(' .. ARGV[1]
local newer = redis.call('ZCOUNT', KEYS[2], after, '+inf')
if newer > limit then
  local cut = redis.call('ZREVRANGEBYSCORE', KEYS[2], '+inf', after, 'WITHSCORES', 'LIMIT', limit - 1, 1)
  return {0, tonumber(cut[2])}
end
local out = redis.call('ZRANGEBYSCORE', KEYS[2], after, '+inf')
table.insert(out, 1, 1)
return out`,
);

export class RedisHistory implements RoomHistory {
  constructor(
    private readonly ops: RedisOps,
    private readonly maxLength: number,
  ) {}

  async append(room: string, message: Omit<StoredMessage, "id" | "seq">): Promise<StoredMessage> {
    const k = historyKeys(room);
    const { room: _ignored, ...body } = message;
    const seq = asNumber(await this.ops.eval(APPEND, [k.seq, k.log], [JSON.stringify(body), this.maxLength]));
    return { ...message, id: `${room}:${seq}`, seq, room };
  }

  async since(room: string, seq: number, limit: number): Promise<HistorySince> {
    const k = historyKeys(room);
    const reply = asArray(await this.ops.eval(SINCE, [k.seq, k.log], [String(Math.trunc(seq)), Math.max(1, limit)]));
    if (asNumber(reply[0]) === 0) return { ok: false, oldestSeq: asNumber(reply[1]) };
    const messages = reply.slice(1).map((raw) => {
      const member = asString(raw);
      const bar = member.indexOf("|");
      const s = Number(member.slice(0, bar));
      const body = JSON.parse(member.slice(bar + 1)) as Omit<StoredMessage, "id" | "seq" | "room">;
      return { ...body, id: `${room}:${s}`, seq: s, room };
    });
    return { ok: true, messages };
  }

  /** The connection belongs to the service factory, which closes it. */
  async close(): Promise<void> {}
}
