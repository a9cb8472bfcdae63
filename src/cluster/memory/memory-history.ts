// Embedded-mode room history: a bounded ring of the latest messages per room.
import type { HistorySince, RoomHistory, StoredMessage } from "../types.js";

interface RoomLog {
  lastSeq: number;
  messages: StoredMessage[];
}

export class MemoryHistory implements RoomHistory {
  private readonly rooms = new Map<string, RoomLog>();

  constructor(private readonly maxLength: number) {}

  async append(room: string, message: Omit<StoredMessage, "id" | "seq">): Promise<StoredMessage> {
    let log = this.rooms.get(room);
    if (!log) this.rooms.set(room, (log = { lastSeq: 0, messages: [] }));
    const seq = ++log.lastSeq;
    const stored: StoredMessage = { ...message, id: `${room}:${seq}`, seq, room };
    if (this.maxLength > 0) {
      log.messages.push(stored);
      // Trim in batches (amortised O(1) per append): splicing one entry off a full history on every
      // append copied the whole array each time. Reads look only at the newest maxLength entries.
      if (log.messages.length >= this.maxLength * 2) log.messages.splice(0, log.messages.length - this.maxLength);
    }
    return stored;
  }

  async since(room: string, seq: number, limit: number): Promise<HistorySince> {
    const log = this.rooms.get(room);
    if (!log || seq >= log.lastSeq) return { ok: true, messages: [] };
    const retained = log.messages.length > this.maxLength ? log.messages.slice(-this.maxLength) : log.messages;
    const oldestSeq = retained[0]?.seq ?? log.lastSeq + 1;
    if (seq + 1 < oldestSeq) return { ok: false, oldestSeq };
    // Sequence numbers are contiguous in the log: the newer messages are a suffix.
    const newer = retained.slice(retained.length - (log.lastSeq - seq));
    if (newer.length > limit) return { ok: false, oldestSeq: newer[newer.length - limit]!.seq! };
    return { ok: true, messages: newer };
  }

  async close(): Promise<void> {
    this.rooms.clear();
  }
}
