// Embedded-mode room history: one bounded log per room (see memory-log.ts), dropped HISTORY_TTL_MS after its last message.
import { roomMessageId } from "../log-positions.js";
import type { AppendOptions, AppendResult, LogRead, NewMessage, ReadFrom, ReadLimits, RoomHistory } from "../types.js";
import { MemoryLogs } from "./memory-log.js";

export interface MemoryHistoryOptions {
  maxLength: number;
  /** A room's history is dropped this long after its last message (HISTORY_TTL_MS). */
  ttlMs: number;
  idempotencyTtlMs: number;
  now?: () => number;
}

export class MemoryHistory implements RoomHistory {
  private readonly logs: MemoryLogs;

  constructor(options: MemoryHistoryOptions) {
    this.logs = new MemoryLogs({
      maxLength: options.maxLength,
      idleTtlMs: options.ttlMs,
      idempotencyTtlMs: options.idempotencyTtlMs,
      idOf: roomMessageId,
      now: options.now,
    });
  }

  async append(room: string, message: NewMessage, options?: AppendOptions): Promise<AppendResult> {
    return this.logs.append(room, message, options, { room });
  }

  async since(room: string, from: ReadFrom, limits: ReadLimits): Promise<LogRead> {
    return this.logs.since(room, from, limits);
  }

  /** Rooms currently held (for tests of the bounds). */
  size(): number {
    return this.logs.logs.size;
  }

  async close(): Promise<void> {
    this.logs.close();
  }
}
