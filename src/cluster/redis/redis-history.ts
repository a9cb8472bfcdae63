// Cluster-mode room history: per room a meta hash (epoch, last seq) and a bounded sorted set, appended in Lua.
//
// One script on the room's slot bumps the seq, adds the member, writes the idempotency record and sets the
// TTL, so seqs are +1 per message, the log has no holes between its oldest entry and the counter, and a
// retried append can never store twice. Members are `<seq>|<JSON>`: the prefix keeps identical messages
// distinct and the JSON is never re-encoded by Lua (cjson would alter numbers and empty arrays).
// A missing meta hash means the log was lost (restart without persistence, FLUSHALL, TTL): the next
// append starts a new epoch and clears any leftover members.
import { AcknowledgedPositions, gapFor, newEpoch, roomMessageId, MESSAGE_OVERHEAD_BYTES, withFields } from "../log-positions.js";
import type { AppendOptions, AppendResult, LogRead, NewMessage, ReadFrom, ReadLimits, RoomHistory, StoredMessage } from "../types.js";
import { historyKeys, logIdempotencyKey } from "./keys.js";
import { asArray, asNumber, asString, LuaScript, type RedisOps } from "./redis-ops.js";
import type { ReplicaAck } from "./replica-ack.js";

// KEYS: meta, log[, idem]. ARGV: JSON, maxLength, ttlMs, newEpoch, knownEpoch, knownSeq, idemTtlMs, ts.
// Returns {0, epoch, seq} for a new message, {1, epoch, seq, ts, member|false} for a duplicate.
const APPEND = new LuaScript(
  "history.append",
  `local epoch = redis.call('HGET', KEYS[1], 'epoch')
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if KEYS[3] then
  local rec = redis.call('GET', KEYS[3])
  if rec then
    local e, s, t = string.match(rec, '^([^|]*)|([^|]*)|(.*)$')
    local member = false
    if e == epoch then
      local found = redis.call('ZRANGEBYSCORE', KEYS[2], s, s)
      if #found == 1 then member = found[1] end
    end
    -- A write, so that WAIT after this duplicate also covers the first append.
    redis.call('PEXPIRE', KEYS[3], math.max(1, redis.call('PTTL', KEYS[3])))
    return {1, e, s, t, member}
  end
end
-- Same epoch but fewer messages than this pod already acknowledged: appends were lost (lagging failover).
if epoch and epoch == ARGV[5] and seq < tonumber(ARGV[6]) then epoch = false end
if not epoch then
  epoch = ARGV[4]
  seq = 0
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
seq = seq + 1
redis.call('HSET', KEYS[1], 'seq', seq)
local max = tonumber(ARGV[2])
if max > 0 then
  redis.call('ZADD', KEYS[2], seq, seq .. '|' .. ARGV[1])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(max + 1))
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if KEYS[3] then redis.call('SET', KEYS[3], epoch .. '|' .. seq .. '|' .. ARGV[8], 'PX', ARGV[7]) end
return {0, epoch, seq}`,
);

// KEYS: meta, log. ARGV: after (seq, as sent), maxMessages, maxBytes, overhead.
// Returns {epoch, lastSeq, oldestSeq, more, member...}; the gap rules are applied by the caller (gapFor).
const SINCE = new LuaScript(
  "history.since",
  `local epoch = redis.call('HGET', KEYS[1], 'epoch') or ''
local last = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local oldest = last + 1
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #first == 2 then oldest = tonumber(first[2]) end
local out = {epoch, last, oldest, 0}
local after = tonumber(ARGV[1])
if after >= last or after + 1 < oldest then return out end
local maxMessages = tonumber(ARGV[2])
local maxBytes = tonumber(ARGV[3])
local overhead = tonumber(ARGV[4])
-- ARGV[1] is concatenated as sent: Lua would print large numbers in exponent notation.
local members = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'LIMIT', 0, maxMessages)
local bytes = 0
for i, m in ipairs(members) do
  local cost = #m + overhead
  if i > 1 and bytes + cost > maxBytes then out[4] = 1 break end
  bytes = bytes + cost
  table.insert(out, m)
end
if out[4] == 0 and after + (#out - 4) < last then out[4] = 1 end
return out`,
);

export interface RedisHistoryOptions {
  maxLength: number;
  /** HISTORY_TTL_MS: the room's keys expire this long after its last message. */
  ttlMs: number;
  idempotencyTtlMs: number;
  /** REDIS_ACK_REPLICAS; absent or 0: acknowledge once the master has it. */
  replicaAck?: ReplicaAck;
}

export class RedisHistory implements RoomHistory {
  private readonly acknowledged = new AcknowledgedPositions();

  constructor(
    private readonly ops: RedisOps,
    private readonly options: RedisHistoryOptions,
  ) {}

  async append(room: string, message: NewMessage, options?: AppendOptions): Promise<AppendResult> {
    const k = historyKeys(room);
    const keys = [k.meta, k.log];
    if (options?.idempotencyKey) keys.push(logIdempotencyKey("history", room, options.idempotencyKey));
    const { room: _ignored, ...body } = message;
    const known = this.acknowledged.get(room);
    const reply = asArray(
      await this.ops.eval(APPEND, keys, [
        JSON.stringify(body),
        this.options.maxLength,
        this.options.ttlMs,
        newEpoch(),
        known?.epoch ?? "",
        known?.seq ?? 0,
        this.options.idempotencyTtlMs,
        message.ts,
      ]),
    );
    const duplicate = asNumber(reply[0]) === 1;
    const epoch = asString(reply[1]);
    const seq = asNumber(reply[2]);
    let stored: StoredMessage;
    if (!duplicate) stored = withFields(message, { id: roomMessageId(room, epoch, seq), seq, epoch, room });
    else {
      const member = reply[4] ? asString(reply[4]) : undefined;
      stored = member
        ? this.decode(room, epoch, member)
        : withFields(message, { ts: asNumber(reply[3]), id: roomMessageId(room, epoch, seq), seq, epoch, room });
    }
    await this.options.replicaAck?.confirm(k.meta);
    this.acknowledged.record(room, { epoch, seq });
    return { message: stored, duplicate };
  }

  async since(room: string, from: ReadFrom, limits: ReadLimits): Promise<LogRead> {
    const k = historyKeys(room);
    const after = String(Math.max(0, Math.trunc(from.seq)));
    const reply = asArray(
      await this.ops.eval(SINCE, [k.meta, k.log], [after, Math.max(1, limits.maxMessages), Math.max(1, limits.maxBytes), MESSAGE_OVERHEAD_BYTES]),
    );
    const state = { epoch: asString(reply[0]), lastSeq: asNumber(reply[1]), oldestSeq: asNumber(reply[2]) };
    const gap = gapFor(from, state);
    if (gap) return { ok: false, gap };
    const messages = reply.slice(4).map((raw) => this.decode(room, state.epoch, asString(raw)));
    const last = messages[messages.length - 1];
    return { ok: true, messages, more: asNumber(reply[3]) === 1, next: { epoch: state.epoch, seq: last?.seq ?? from.seq } };
  }

  /** The connection belongs to the service factory, which closes it. */
  async close(): Promise<void> {}

  private decode(room: string, epoch: string, member: string): StoredMessage {
    const bar = member.indexOf("|");
    const seq = Number(member.slice(0, bar));
    const body = JSON.parse(member.slice(bar + 1)) as Omit<StoredMessage, "id" | "seq" | "epoch" | "room">;
    return withFields(body, { id: roomMessageId(room, epoch, seq), seq, epoch, room });
  }
}
