// Embedded-mode inbox: one log per user (see memory-log.ts) plus per-device acknowledged seqs.
import { directMessageId, fitting, parseDirectId, storedBytes } from "../log-positions.js";
import type { AppendOptions, AppendResult, Inbox, LogRead, NewMessage, ReadFrom, ReadLimits, StoredMessage, UnackedPage, UnackedRequest } from "../types.js";
import { MemoryLogs, type MemoryLog } from "./memory-log.js";

export interface InboxLimits {
  maxLength: number;
  maxAgeMs: number;
  /** Called with the number of messages dropped by the length or age bound. */
  onTrim?: (count: number) => void;
  idempotencyTtlMs?: number;
  now?: () => number;
}

/** Devices whose acknowledgements one user keeps; the least recently acknowledging one is forgotten first (it sees its messages again). */
export const MAX_ACKING_DEVICES = 64;

interface Acks {
  epoch: string;
  /** deviceId -> acknowledged seqs (only retained ones). */
  devices: Map<string, Set<number>>;
}

export class MemoryInbox implements Inbox {
  private readonly logs: MemoryLogs;
  private readonly acks = new Map<string, Acks>();

  constructor(private readonly limits: InboxLimits) {
    // Everything in an inbox idle for maxAgeMs has aged out: dropping the whole user is the same answer.
    this.logs = new MemoryLogs({
      maxLength: limits.maxLength,
      idleTtlMs: limits.maxAgeMs,
      idempotencyTtlMs: limits.idempotencyTtlMs ?? 600_000,
      idOf: (_user, epoch, seq) => directMessageId(epoch, seq),
      now: limits.now,
    });
  }

  async append(userId: string, message: NewMessage, options?: AppendOptions): Promise<AppendResult> {
    const result = this.logs.append(userId, message, options);
    this.trim(userId, this.logs.get(userId)!);
    return result;
  }

  async since(userId: string, from: ReadFrom, limits: ReadLimits): Promise<LogRead> {
    return this.logs.since(userId, from, limits, (log) => this.trim(userId, log));
  }

  async unacked(userId: string, deviceId: string, page: UnackedRequest): Promise<UnackedPage> {
    const log = this.live(userId);
    if (!log) return { messages: [], more: false };
    const kept = this.trim(userId, log);
    const acked = this.acks.get(userId)?.devices.get(deviceId);
    const cursor = page.cursor ? parseDirectId(page.cursor) : undefined;
    const after = cursor && cursor.epoch === log.epoch ? cursor.seq : 0;
    const pending = kept.filter((m) => m.seq > after && !acked?.has(m.seq));
    const count = fitting(
      (function* () {
        for (const m of pending) yield storedBytes(m);
      })(),
      page,
    );
    const messages = pending.slice(0, count);
    const more = count < pending.length;
    return more ? { messages, more, nextCursor: messages[messages.length - 1]!.id } : { messages, more };
  }

  async ack(userId: string, deviceId: string, ids: string[]): Promise<number> {
    const log = this.live(userId);
    if (!log) return 0;
    const kept = this.trim(userId, log);
    const oldest = kept[0]?.seq ?? log.lastSeq + 1;
    let acks = this.acks.get(userId);
    if (!acks || acks.epoch !== log.epoch) this.acks.set(userId, (acks = { epoch: log.epoch, devices: new Map() }));
    const acked = acks.devices.get(deviceId) ?? new Set<number>();
    let count = 0;
    for (const id of ids) {
      const p = parseDirectId(id);
      if (!p || p.epoch !== log.epoch || p.seq < oldest || p.seq > log.lastSeq || acked.has(p.seq)) continue;
      acked.add(p.seq);
      count++;
    }
    // Re-inserted so the map's order is "least recently acknowledging first".
    acks.devices.delete(deviceId);
    if (acked.size > 0) acks.devices.set(deviceId, acked);
    if (acks.devices.size > MAX_ACKING_DEVICES) acks.devices.delete(acks.devices.keys().next().value!);
    return count;
  }

  /** Users currently held (for tests of the bounds). */
  size(): number {
    return this.logs.logs.size;
  }

  async close(): Promise<void> {
    this.logs.close();
    this.acks.clear();
  }

  /** The user's log, dropping the acknowledgements of a log that expired or was replaced. */
  private live(userId: string): MemoryLog | undefined {
    const log = this.logs.get(userId);
    const acks = this.acks.get(userId);
    if (acks && (!log || acks.epoch !== log.epoch)) this.acks.delete(userId);
    return log;
  }

  /** Applies the length and age bounds exactly (counted), and drops acknowledgements of what went. */
  private trim(userId: string, log: MemoryLog): StoredMessage[] {
    const cutoff = this.logs.now() - this.limits.maxAgeMs;
    let drop = Math.max(0, log.messages.length - this.limits.maxLength);
    while (drop < log.messages.length && log.messages[drop]!.ts < cutoff) drop++;
    if (drop > 0) {
      const removed = log.messages.splice(0, drop);
      const oldest = log.messages[0]?.seq ?? log.lastSeq + 1;
      const acks = this.acks.get(userId);
      if (acks?.epoch === log.epoch) for (const set of acks.devices.values()) for (const s of set) if (s < oldest) set.delete(s);
      this.limits.onTrim?.(removed.length);
    }
    return log.messages;
  }
}
