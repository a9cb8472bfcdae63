// Embedded-mode inbox: per-user ordered log, per-device acknowledged sets.
import type { Inbox, StoredMessage } from "../types.js";

export interface InboxLimits {
  maxLength: number;
  maxAgeMs: number;
  /** Called with the number of messages dropped by the length or age bound. */
  onTrim?: (count: number) => void;
  now?: () => number;
}

interface UserLog {
  messages: StoredMessage[];
  /** deviceId -> ids acknowledged by that device (only ids still retained). */
  acked: Map<string, Set<string>>;
}

export class MemoryInbox implements Inbox {
  private readonly users = new Map<string, UserLog>();
  private counter = 0;
  private readonly now: () => number;

  constructor(private readonly limits: InboxLimits) {
    this.now = limits.now ?? Date.now;
  }

  async append(userId: string, message: Omit<StoredMessage, "id">): Promise<StoredMessage> {
    const log = this.log(userId);
    // Time-ordered ids like Redis stream ids, so both implementations sort the same way.
    const stored: StoredMessage = { ...message, id: `${message.ts}-${++this.counter}` };
    log.messages.push(stored);
    this.trim(log);
    return stored;
  }

  async unacked(userId: string, deviceId: string, limit: number): Promise<StoredMessage[]> {
    const log = this.users.get(userId);
    if (!log) return [];
    this.trim(log);
    const acked = log.acked.get(deviceId);
    const out: StoredMessage[] = [];
    for (const m of log.messages) {
      if (acked?.has(m.id)) continue;
      out.push(m);
      if (out.length >= limit) break;
    }
    return out;
  }

  async ack(userId: string, deviceId: string, ids: string[]): Promise<number> {
    const log = this.users.get(userId);
    if (!log) return 0;
    const retained = new Set(log.messages.map((m) => m.id));
    let acked = log.acked.get(deviceId);
    if (!acked) log.acked.set(deviceId, (acked = new Set()));
    let count = 0;
    for (const id of ids) {
      if (retained.has(id) && !acked.has(id)) {
        acked.add(id);
        count++;
      }
    }
    return count;
  }

  async close(): Promise<void> {
    this.users.clear();
  }

  private log(userId: string): UserLog {
    let log = this.users.get(userId);
    if (!log) this.users.set(userId, (log = { messages: [], acked: new Map() }));
    return log;
  }

  private trim(log: UserLog): void {
    const cutoff = this.now() - this.limits.maxAgeMs;
    let drop = Math.max(0, log.messages.length - this.limits.maxLength);
    while (drop < log.messages.length && log.messages[drop]!.ts < cutoff) drop++;
    if (drop === 0) return;
    const removed = log.messages.splice(0, drop);
    for (const acked of log.acked.values()) for (const m of removed) acked.delete(m.id);
    this.limits.onTrim?.(removed.length);
  }
}
