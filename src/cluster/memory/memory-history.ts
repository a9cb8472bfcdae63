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
      if (log.messages.length > this.maxLength) log.messages.splice(0, log.messages.length - this.maxLength);
    }
    return stored;
  }

  async since(room: string, seq: number, limit: number): Promise<HistorySince> {
    const log = this.rooms.get(room);
    if (!log || seq >= log.lastSeq) return { ok: true, messages: [] };
    const oldestSeq = log.messages[0]?.seq ?? log.lastSeq + 1;
    if (seq + 1 < oldestSeq) return { ok: false, oldestSeq };
    const newer = log.messages.filter((m) => m.seq! > seq);
    if (newer.length > limit) return { ok: false, oldestSeq: newer[newer.length - limit]!.seq! };
    return { ok: true, messages: newer };
  }

  async close(): Promise<void> {
    this.rooms.clear();
  }
}
