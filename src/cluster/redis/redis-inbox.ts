// Cluster-mode inbox: one Redis Stream of direct messages per user, acknowledged per device.
//
// Why a stream: XTRIM bounds it by length and reports what it dropped, and XRANGE reads in order from any
// id. Entry ids are `<seq>-0`, so a position (seq) is a range start and the ack bookkeeping compares ids
// numerically; the meta hash holds the epoch and the last seq, bumped in the same script as XADD (seqs have
// no holes). Age trimming reads each entry's `t` (server ms at append) from the head. Per device we keep a
// floor (every entry up to it is acknowledged) plus the set of acknowledged ids above it; the floor advances
// over the acknowledged prefix, so that set stays small. A device without a floor starts at the oldest
// retained entry. All of a user's keys (idempotency records included) share one hash tag.
import { AcknowledgedPositions, directMessageId, gapFor, MESSAGE_OVERHEAD_BYTES, newEpoch, parseDirectId, withFields } from "../log-positions.js";
import type { AppendOptions, AppendResult, Inbox, LogRead, NewMessage, ReadFrom, ReadLimits, StoredMessage, UnackedPage, UnackedRequest } from "../types.js";
import { inboxKeys, logIdempotencyKey } from "./keys.js";
import { asArray, asNumber, asString, LuaScript, type RedisOps } from "./redis-ops.js";
import type { ReplicaAck } from "./replica-ack.js";

const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
const IDS = `local function parse(id) local d = string.find(id, '-', 1, true) return tonumber(string.sub(id, 1, d - 1)), tonumber(string.sub(id, d + 1)) end
local function gt(a, b) local am, as = parse(a) local bm, bs = parse(b) return am > bm or (am == bm and as > bs) end`;
// Drops entries older than the cutoff from the head of the stream; returns how many.
const AGE_TRIM = `local function ageTrim(key, cutoff)
  local n = 0
  for _ = 1, 1000 do
    local head = redis.call('XRANGE', key, '-', '+', 'COUNT', 16)
    local keep = nil
    local cut = 0
    for _, e in ipairs(head) do
      if tonumber(e[2][2]) < cutoff then cut = cut + 1 else keep = e[1] break end
    end
    if cut == 0 then return n end
    if keep then return n + redis.call('XTRIM', key, 'MINID', keep) end
    local lastId = head[#head][1]
    n = n + redis.call('XTRIM', key, 'MINID', (tonumber(string.sub(lastId, 1, string.find(lastId, '-', 1, true) - 1)) + 1) .. '-0')
  end
  return n
end`;

const FRESH_DEVICE = `-- A device's acknowledgements belong to one epoch: after a reset they would hide the new messages.
local function freshDevice(epoch)
  local mark = ARGV[1] .. '\\n'
  if redis.call('HGET', KEYS[2], mark) ~= epoch then
    redis.call('DEL', KEYS[3])
    redis.call('HDEL', KEYS[2], ARGV[1])
    redis.call('HSET', KEYS[2], mark, epoch)
  end
end`;

// KEYS: log, floors, meta[, idem]. ARGV: JSON, maxLength, maxAgeMs, keyTtlMs, newEpoch, knownEpoch, knownSeq, idemTtlMs, ts.
// Returns {0, epoch, seq, trimmed} for a new message, {1, epoch, seq, ts, json|false} for a duplicate.
const APPEND = new LuaScript(
  "inbox.append",
  `${NOW}
${AGE_TRIM}
local epoch = redis.call('HGET', KEYS[3], 'epoch')
local seq = tonumber(redis.call('HGET', KEYS[3], 'seq') or '0')
if KEYS[4] then
  local rec = redis.call('GET', KEYS[4])
  if rec then
    local e, s, ts = string.match(rec, '^([^|]*)|([^|]*)|(.*)$')
    local json = false
    if e == epoch then
      local found = redis.call('XRANGE', KEYS[1], s .. '-0', s .. '-0')
      if #found == 1 then json = found[1][2][4] end
    end
    -- A write, so that WAIT after this duplicate also covers the first append.
    redis.call('PEXPIRE', KEYS[4], math.max(1, redis.call('PTTL', KEYS[4])))
    return {1, e, s, ts, json}
  end
end
-- Same epoch but fewer messages than this pod already acknowledged: appends were lost (lagging failover).
if epoch and epoch == ARGV[6] and seq < tonumber(ARGV[7]) then epoch = false end
if not epoch then
  epoch = ARGV[5]
  seq = 0
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[3], 'epoch', epoch)
end
seq = seq + 1
redis.call('HSET', KEYS[3], 'seq', seq)
redis.call('XADD', KEYS[1], seq .. '-0', 't', now, 'm', ARGV[1])
local trimmed = redis.call('XTRIM', KEYS[1], 'MAXLEN', tonumber(ARGV[2]))
trimmed = trimmed + ageTrim(KEYS[1], now - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
if KEYS[4] then redis.call('SET', KEYS[4], epoch .. '|' .. seq .. '|' .. ARGV[9], 'PX', ARGV[8]) end
return {0, epoch, seq, trimmed}`,
);

// KEYS: log, meta. ARGV: after (seq, as sent), maxMessages, maxBytes, overhead, maxAgeMs.
// Returns {trimmed, epoch, lastSeq, oldestSeq, more, seq, json, seq, json...}; gap rules applied by the caller.
const SINCE = new LuaScript(
  "inbox.since",
  `${NOW}
${AGE_TRIM}
local trimmed = ageTrim(KEYS[1], now - tonumber(ARGV[5]))
local epoch = redis.call('HGET', KEYS[2], 'epoch') or ''
local last = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
local oldest = last + 1
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first == 1 then oldest = tonumber(string.sub(first[1][1], 1, string.find(first[1][1], '-', 1, true) - 1)) end
local out = {trimmed, epoch, last, oldest, 0}
local after = tonumber(ARGV[1])
if after >= last or after + 1 < oldest then return out end
local maxBytes = tonumber(ARGV[3])
local overhead = tonumber(ARGV[4])
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1] .. '-0', '+', 'COUNT', tonumber(ARGV[2]))
local bytes = 0
local count = 0
for i, e in ipairs(entries) do
  local cost = #e[2][4] + overhead
  if i > 1 and bytes + cost > maxBytes then out[5] = 1 break end
  bytes = bytes + cost
  count = count + 1
  table.insert(out, e[1])
  table.insert(out, e[2][4])
end
if out[5] == 0 and after + count < last then out[5] = 1 end
return out`,
);

// KEYS: log, floors, acked, meta. ARGV: deviceId, maxMessages, maxBytes, overhead, maxAgeMs, cursorEpoch, cursorSeq.
// Returns {trimmed, epoch, more, id, json, id, json, ...}.
const UNACKED = new LuaScript(
  "inbox.unacked",
  `${NOW}
${AGE_TRIM}
${FRESH_DEVICE}
local trimmed = ageTrim(KEYS[1], now - tonumber(ARGV[5]))
local epoch = redis.call('HGET', KEYS[4], 'epoch') or ''
if epoch == '' then return {trimmed, epoch, 0} end
freshDevice(epoch)
local start = 0
local floor = redis.call('HGET', KEYS[2], ARGV[1])
if floor then start = tonumber(string.sub(floor, 1, string.find(floor, '-', 1, true) - 1)) end
if ARGV[6] == epoch and tonumber(ARGV[7]) > start then start = tonumber(ARGV[7]) end
local maxMessages = tonumber(ARGV[2])
local maxBytes = tonumber(ARGV[3])
local overhead = tonumber(ARGV[4])
local out = {trimmed, epoch, 0}
local found = 0
local bytes = 0
for _ = 1, 10000 do
  local batch = redis.call('XRANGE', KEYS[1], '(' .. start .. '-0', '+', 'COUNT', 64)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    if not redis.call('ZSCORE', KEYS[3], e[1]) then
      local cost = #e[2][4] + overhead
      if found > 0 and (found >= maxMessages or bytes + cost > maxBytes) then
        out[3] = 1
        return out
      end
      table.insert(out, e[1])
      table.insert(out, e[2][4])
      found = found + 1
      bytes = bytes + cost
    end
  end
  local lastId = batch[#batch][1]
  start = tonumber(string.sub(lastId, 1, string.find(lastId, '-', 1, true) - 1))
end
return out`,
);

// KEYS: log, floors, acked, meta. ARGV: deviceId, keyTtlMs, epoch, stream ids... Returns how many ids were newly acknowledged
// (0 when the ids belong to another epoch of this inbox).
const ACK = new LuaScript(
  "inbox.ack",
  `${IDS}
${FRESH_DEVICE}
if redis.call('HGET', KEYS[4], 'epoch') ~= ARGV[3] then return 0 end
freshDevice(ARGV[3])
local floor = redis.call('HGET', KEYS[2], ARGV[1])
local count = 0
for i = 4, #ARGV do
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

/** Stream ids we hand out; anything else cannot be ours. */
const seqOfEntry = (entryId: string): number => Number(entryId.slice(0, entryId.indexOf("-")));

export interface RedisInboxOptions {
  maxLength: number;
  maxAgeMs: number;
  /** Called with the number of messages dropped by the length or age bound. */
  onTrim?: (count: number) => void;
  idempotencyTtlMs?: number;
  /** REDIS_ACK_REPLICAS; absent or 0: acknowledge once the master has it. */
  replicaAck?: ReplicaAck;
}

/** Distinct epochs one ack call looks at: ids of older epochs acknowledge nothing anyway. */
const MAX_ACK_EPOCHS = 4;

export class RedisInbox implements Inbox {
  /** Every message is older than maxAgeMs by then: an idle user's keys vanish, and the next message starts a new epoch. */
  private readonly keyTtlMs: number;
  private readonly acknowledged = new AcknowledgedPositions();

  constructor(
    private readonly ops: RedisOps,
    private readonly options: RedisInboxOptions,
  ) {
    this.keyTtlMs = options.maxAgeMs;
  }

  async append(userId: string, message: NewMessage, options?: AppendOptions): Promise<AppendResult> {
    const k = inboxKeys(userId, "");
    const keys = [k.log, k.floors, k.meta];
    if (options?.idempotencyKey) keys.push(logIdempotencyKey("inbox", userId, options.idempotencyKey));
    const known = this.acknowledged.get(userId);
    const reply = asArray(
      await this.ops.eval(APPEND, keys, [
        JSON.stringify(message),
        this.options.maxLength,
        this.options.maxAgeMs,
        this.keyTtlMs,
        newEpoch(),
        known?.epoch ?? "",
        known?.seq ?? 0,
        this.options.idempotencyTtlMs ?? 600_000,
        message.ts,
      ]),
    );
    const duplicate = asNumber(reply[0]) === 1;
    const epoch = asString(reply[1]);
    const seq = asNumber(reply[2]);
    let stored: StoredMessage;
    if (!duplicate) {
      this.trimmed(asNumber(reply[3]));
      stored = withFields(message, { id: directMessageId(epoch, seq), seq, epoch });
    } else {
      const json = reply[4] ? asString(reply[4]) : undefined;
      stored = json ? this.decode(epoch, seq, json) : withFields(message, { ts: asNumber(reply[3]), id: directMessageId(epoch, seq), seq, epoch });
    }
    await this.options.replicaAck?.confirm(k.meta);
    this.acknowledged.record(userId, { epoch, seq });
    return { message: stored, duplicate };
  }

  async since(userId: string, from: ReadFrom, limits: ReadLimits): Promise<LogRead> {
    const k = inboxKeys(userId, "");
    const after = String(Math.max(0, Math.trunc(from.seq)));
    const reply = asArray(
      await this.ops.eval(
        SINCE,
        [k.log, k.meta],
        [after, Math.max(1, limits.maxMessages), Math.max(1, limits.maxBytes), MESSAGE_OVERHEAD_BYTES, this.options.maxAgeMs],
      ),
    );
    this.trimmed(asNumber(reply[0]));
    const state = { epoch: asString(reply[1]), lastSeq: asNumber(reply[2]), oldestSeq: asNumber(reply[3]) };
    const gap = gapFor(from, state);
    if (gap) return { ok: false, gap };
    const messages: StoredMessage[] = [];
    for (let i = 5; i + 1 < reply.length; i += 2) messages.push(this.decode(state.epoch, seqOfEntry(asString(reply[i])), asString(reply[i + 1])));
    const last = messages[messages.length - 1];
    return { ok: true, messages, more: asNumber(reply[4]) === 1, next: { epoch: state.epoch, seq: last?.seq ?? from.seq } };
  }

  async unacked(userId: string, deviceId: string, page: UnackedRequest): Promise<UnackedPage> {
    const k = inboxKeys(userId, deviceId);
    const cursor = page.cursor ? parseDirectId(page.cursor) : undefined;
    const reply = asArray(
      await this.ops.eval(
        UNACKED,
        [k.log, k.floors, k.acked, k.meta],
        [
          deviceId,
          Math.max(1, page.maxMessages),
          Math.max(1, page.maxBytes),
          MESSAGE_OVERHEAD_BYTES,
          this.options.maxAgeMs,
          cursor?.epoch ?? "",
          cursor?.seq ?? 0,
        ],
      ),
    );
    this.trimmed(asNumber(reply[0]));
    const epoch = asString(reply[1]);
    const messages: StoredMessage[] = [];
    for (let i = 3; i + 1 < reply.length; i += 2) messages.push(this.decode(epoch, seqOfEntry(asString(reply[i])), asString(reply[i + 1])));
    const more = asNumber(reply[2]) === 1 && messages.length > 0;
    return more ? { messages, more, nextCursor: messages[messages.length - 1]!.id } : { messages, more: false };
  }

  async ack(userId: string, deviceId: string, ids: string[]): Promise<number> {
    const byEpoch = new Map<string, Set<string>>();
    for (const id of ids) {
      const p = parseDirectId(id);
      if (!p) continue;
      let group = byEpoch.get(p.epoch);
      if (!group) {
        if (byEpoch.size >= MAX_ACK_EPOCHS) continue;
        byEpoch.set(p.epoch, (group = new Set()));
      }
      group.add(`${p.seq}-0`);
    }
    const k = inboxKeys(userId, deviceId);
    let count = 0;
    for (const [epoch, entries] of byEpoch)
      count += asNumber(await this.ops.eval(ACK, [k.log, k.floors, k.acked, k.meta], [deviceId, this.keyTtlMs, epoch, ...entries]));
    return count;
  }

  /** The connection belongs to the service factory, which closes it. */
  async close(): Promise<void> {}

  private decode(epoch: string, seq: number, json: string): StoredMessage {
    const stored = JSON.parse(json) as NewMessage;
    return withFields(stored, { id: directMessageId(epoch, seq), seq, epoch });
  }

  private trimmed(n: number): void {
    if (n > 0) this.options.onTrim?.(n);
  }
}
