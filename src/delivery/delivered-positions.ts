// The last position delivered on this pod, per room history and per user inbox (the user's internal
// room), for every room with local sockets: where a resync after a fan-out interruption starts.
import type { BroadcastOptions } from "socket.io-adapter";
import type { DeliveredPacket } from "../cluster/fanout-health.js";

export interface Position {
  epoch?: string;
  seq: number;
}

interface Tracked {
  /** Every message up to here (in this epoch) reached this pod; undefined until the first one. */
  contiguous?: Position;
  /** Seqs delivered beyond `contiguous` (messages from several pods may arrive out of seq order). */
  ahead: Set<number>;
  /** When the room got its first local socket: a fallback bound when no position is known yet. */
  since: number;
  /** When `contiguous` was first set from a delivery: before that, this pod knows nothing of the log. */
  establishedAt?: number;
}

/** Seqs remembered beyond a hole; past this a hole is left for the resync to fill. */
const MAX_AHEAD = 1024;

/**
 * Guarantee: a position only moves over messages that were all delivered here, in seq order without
 * holes: a message lost by pub/sub holds the position before it even when later ones arrive (e.g. sent
 * from this pod, which pub/sub does not carry), so a resync from the position replays it.
 */
export class DeliveredPositions {
  private readonly logs = new Map<string, Tracked>();

  /** A room got its first local socket. */
  track(room: string, now = Date.now()): void {
    if (!this.logs.has(room)) this.logs.set(room, { ahead: new Set(), since: now });
  }

  /** The room's last local socket left. */
  forget(room: string): void {
    this.logs.delete(room);
  }

  /**
   * Each tracked log with the position a resync can start from. A position first set after `notBefore`
   * is not trusted: the first message to reach this pod during an interruption may have had lost ones
   * before it, so such a log is treated as having no position (read by time instead).
   */
  rooms(notBefore = Number.POSITIVE_INFINITY): IterableIterator<[string, { position?: Position; since: number }]> {
    const out = new Map<string, { position?: Position; since: number }>();
    for (const [room, t] of this.logs)
      out.set(room, { position: t.establishedAt !== undefined && t.establishedAt < notBefore ? t.contiguous : undefined, since: t.since });
    return out.entries();
  }

  /** LocalDelivery observer: records stored messages (those with a seq) delivered to one room. */
  readonly observe = (packet: DeliveredPacket, opts: BroadcastOptions): boolean => {
    const data = packet.data;
    if (opts.rooms.size !== 1 || !Array.isArray(data) || data[0] !== "message") return false;
    const m = data[1] as { seq?: unknown; epoch?: unknown } | undefined;
    if (!m || typeof m.seq !== "number") return false;
    const t = this.logs.get(opts.rooms.values().next().value as string);
    if (t) this.delivered(t, { seq: m.seq, ...(typeof m.epoch === "string" ? { epoch: m.epoch } : {}) });
    return false;
  };

  /** After a resync replayed a log up to `position`. */
  replayed(room: string, position: Position): void {
    const t = this.logs.get(room);
    if (!t) return;
    if (!t.contiguous || t.contiguous.epoch !== position.epoch || t.contiguous.seq < position.seq) {
      t.contiguous = position;
      // Replayed from the log itself: every message up to here was sent, whenever it was.
      t.establishedAt = 0;
      for (const s of t.ahead) if (s <= position.seq) t.ahead.delete(s);
      this.advance(t);
    }
  }

  private delivered(t: Tracked, p: Position): void {
    const c = t.contiguous;
    // First message seen, or a new epoch (the log was reset): start from it.
    if (!c || c.epoch !== p.epoch) {
      t.contiguous = p;
      t.establishedAt = Date.now();
      t.ahead.clear();
      return;
    }
    if (p.seq <= c.seq) return;
    if (p.seq === c.seq + 1) {
      t.contiguous = p;
      this.advance(t);
      return;
    }
    if (t.ahead.size < MAX_AHEAD) t.ahead.add(p.seq);
  }

  private advance(t: Tracked): void {
    const c = t.contiguous!;
    let seq = c.seq;
    while (t.ahead.delete(seq + 1)) seq++;
    if (seq !== c.seq) t.contiguous = { ...c, seq };
  }
}
