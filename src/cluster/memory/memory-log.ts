// Embedded-mode logs (room histories, inboxes): epochs, contiguous seqs, idempotent appends, bounded reads,
// and logs dropped once idle, so an empty room or user costs nothing.
import { fitting, gapFor, newEpoch, storedBytes, withFields } from "../log-positions.js";
import type { AppendOptions, AppendResult, LogRead, NewMessage, ReadFrom, ReadLimits, StoredMessage } from "../types.js";

export interface MemoryLog {
  epoch: string;
  lastSeq: number;
  /** Retained messages, contiguous seqs ending at lastSeq. */
  messages: StoredMessage[];
  lastAppendAt: number;
  /** idempotency key -> the first append (ids, not bodies). */
  idempotency: Map<string, { seq: number; ts: number; id: string; expires: number }>;
}

export interface MemoryLogsOptions {
  /** Messages kept per log (0: numbers only, nothing retained). */
  maxLength: number;
  /** A log with no append for this long is dropped (its next message starts a new epoch). */
  idleTtlMs: number;
  idempotencyTtlMs: number;
  /** How a message of this log is named. */
  idOf: (name: string, epoch: string, seq: number) => string;
  now?: () => number;
}

export class MemoryLogs {
  readonly logs = new Map<string, MemoryLog>();
  readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: MemoryLogsOptions) {
    this.now = options.now ?? Date.now;
    // Reads check expiry too; the sweep is what frees the memory of logs nobody reads.
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(options.idleTtlMs, options.idempotencyTtlMs, 60_000)));
    this.sweeper.unref();
  }

  /** The live log, or undefined when it never existed or expired. */
  get(name: string): MemoryLog | undefined {
    const log = this.logs.get(name);
    if (log && this.now() - log.lastAppendAt >= this.options.idleTtlMs) {
      this.logs.delete(name);
      return undefined;
    }
    return log;
  }

  /** `logFields`: fields every message of this log carries (a room history's `room`), added after the position. */
  append(name: string, message: NewMessage, options: AppendOptions | undefined, logFields?: Pick<StoredMessage, "room">): AppendResult {
    const now = this.now();
    let log = this.get(name);
    if (!log) this.logs.set(name, (log = { epoch: newEpoch(), lastSeq: 0, messages: [], lastAppendAt: now, idempotency: new Map() }));
    const key = options?.idempotencyKey;
    const first = key ? log.idempotency.get(key) : undefined;
    if (first && first.expires > now) {
      const retained = this.at(log, first.seq);
      const message_ = retained ?? withFields(message, { ts: first.ts, id: first.id, seq: first.seq, epoch: log.epoch, ...logFields });
      return { message: message_, duplicate: true };
    }
    const seq = ++log.lastSeq;
    const stored = withFields(message, { id: this.options.idOf(name, log.epoch, seq), seq, epoch: log.epoch, ...logFields });
    log.lastAppendAt = now;
    if (this.options.maxLength > 0) {
      log.messages.push(stored);
      // Trim in batches (amortised O(1) per append); reads look only at the newest maxLength entries.
      if (log.messages.length >= this.options.maxLength * 2) log.messages.splice(0, log.messages.length - this.options.maxLength);
    }
    if (key) log.idempotency.set(key, { seq, ts: stored.ts, id: stored.id, expires: now + this.options.idempotencyTtlMs });
    return { message: stored, duplicate: false };
  }

  /** The retained suffix (at most maxLength). */
  retained(log: MemoryLog): StoredMessage[] {
    const max = this.options.maxLength;
    return log.messages.length > max ? log.messages.slice(-max) : log.messages;
  }

  since(name: string, from: ReadFrom, limits: ReadLimits, retained: (log: MemoryLog) => StoredMessage[] = (l) => this.retained(l)): LogRead {
    const log = this.get(name);
    const kept = log ? retained(log) : [];
    const lastSeq = log?.lastSeq ?? 0;
    const state = { epoch: log?.epoch ?? "", lastSeq, oldestSeq: kept[0]?.seq ?? lastSeq + 1 };
    const gap = gapFor(from, state);
    if (gap) return { ok: false, gap };
    // Seqs are contiguous: what follows from.seq is a suffix.
    const after = kept.slice(kept.length - (lastSeq - from.seq));
    const count = fitting(
      (function* () {
        for (const m of after) yield storedBytes(m);
      })(),
      limits,
    );
    const messages = after.slice(0, count);
    const last = messages[messages.length - 1];
    return { ok: true, messages, more: count < after.length, next: { epoch: state.epoch, seq: last?.seq ?? from.seq } };
  }

  close(): void {
    clearInterval(this.sweeper);
    this.logs.clear();
  }

  private at(log: MemoryLog, seq: number): StoredMessage | undefined {
    const kept = this.retained(log);
    const first = kept[0]?.seq;
    return first === undefined || seq < first ? undefined : kept[seq - first];
  }

  private sweep(): void {
    const now = this.now();
    for (const [name, log] of this.logs) {
      if (now - log.lastAppendAt >= this.options.idleTtlMs) {
        this.logs.delete(name);
        continue;
      }
      for (const [k, e] of log.idempotency) if (e.expires <= now) log.idempotency.delete(k);
    }
  }
}
