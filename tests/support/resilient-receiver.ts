// A receiver written the way the README tells clients to behave: on every (re)connect it re-joins its
// rooms with `since` = the end of the contiguous run of seqs it holds (live messages from different pods
// can arrive out of seq order), follows catch-up and unacked pages to the end, dedupes by id and
// acknowledges. It fails over across a list of pods, as a load balancer would move it.
import { io, type Socket } from "socket.io-client";

interface Msg {
  id: string;
  seq?: number;
  room?: string;
  body: unknown;
}

export class ResilientReceiver {
  readonly unique = new Map<string, Msg>();
  duplicates = 0;
  reconnects = 0;
  gaps = 0;
  /** Unique messages first obtained through catch-up (room history or message:unacked), not live. */
  recovered = 0;
  /** Per room: the highest seq up to which every seq was seen, and the seen seqs above it. */
  private readonly contiguous = new Map<string, number>();
  private readonly above = new Map<string, Set<number>>();
  private socket?: Socket;
  private podIndex = 0;
  private stopped = false;

  constructor(
    private readonly pods: () => string[],
    private readonly token: string,
    private readonly deviceId: string,
    private readonly rooms: string[],
  ) {}

  async start(podIndex = 0): Promise<void> {
    this.podIndex = podIndex;
    await this.connect();
  }

  /** Drops the connection from the client side (a network cut) for `ms`, then comes back. */
  async cut(ms: number): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    drop(s);
    this.reconnects++;
    await new Promise((r) => setTimeout(r, ms));
    if (!this.stopped) await this.connect();
  }

  stop(): void {
    this.stopped = true;
    drop(this.socket);
  }

  /** Fetches what is pending once more (used at the end of a test after traffic stopped). */
  async settle(): Promise<void> {
    if (this.socket?.connected) await this.catchUp(this.socket);
  }

  private async connect(): Promise<void> {
    for (let attempt = 0; attempt < 40 && !this.stopped; attempt++) {
      const urls = this.pods();
      const url = urls[this.podIndex % urls.length]!;
      const socket = io(url, {
        auth: { token: this.token, deviceId: this.deviceId },
        transports: ["websocket"],
        reconnection: false,
        forceNew: true,
        timeout: 2000,
      });
      const ok = await new Promise<boolean>((resolve) => {
        socket.once("connect", () => resolve(true));
        socket.once("connect_error", () => resolve(false));
      });
      if (!ok) {
        socket.close();
        this.podIndex++;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      this.socket = socket;
      socket.on("message", (m: Msg) => this.record(m, socket, false));
      socket.once("disconnect", () => {
        if (this.socket !== socket || this.stopped) return;
        this.socket = undefined;
        this.reconnects++;
        this.podIndex++;
        void this.connect();
      });
      await this.catchUp(socket);
      return;
    }
  }

  private async catchUp(socket: Socket): Promise<void> {
    try {
      for (const room of this.rooms) {
        let since: unknown = this.contiguous.get(room) ?? 0;
        // Bounded: a page holds at least one message, and the test sends at most a few thousand.
        for (let page = 0; page < 1000; page++) {
          const r = (await socket.timeout(5000).emitWithAck("room:join", { room, since })) as {
            ok: boolean;
            messages?: Msg[];
            gap?: unknown;
            messagesMore?: boolean;
            nextSince?: unknown;
          };
          if (r.gap) this.gaps++;
          for (const m of r.messages ?? []) this.record(m, socket, true);
          if (!r.messagesMore) break;
          since = r.nextSince;
        }
      }
      let cursor: unknown;
      for (let page = 0; page < 1000; page++) {
        const u = (await socket.timeout(5000).emitWithAck("message:unacked", cursor === undefined ? {} : { cursor })) as {
          ok: boolean;
          messages?: Msg[];
          more?: boolean;
          nextCursor?: unknown;
        };
        for (const m of u.messages ?? []) this.record(m, socket, true);
        if (!u.more) break;
        cursor = u.nextCursor;
      }
    } catch {
      // The socket died during catch-up: the disconnect handler reconnects and catches up again.
    }
  }

  /** The README's rule: a room position advances only over contiguous seqs, never past one not yet seen. */
  private advance(room: string, seq: number): void {
    const seen = this.above.get(room) ?? new Set<number>();
    this.above.set(room, seen);
    let at = this.contiguous.get(room) ?? 0;
    if (seq > at) seen.add(seq);
    while (seen.delete(at + 1)) at++;
    this.contiguous.set(room, at);
  }

  private record(m: Msg, socket: Socket, catchUp: boolean): void {
    if (this.unique.has(m.id)) this.duplicates++;
    else {
      this.unique.set(m.id, m);
      if (catchUp) this.recovered++;
    }
    if (m.room && m.seq !== undefined) this.advance(m.room, m.seq);
    if (!m.room) socket.emit("message:ack", { ids: [m.id] });
  }
}

/** Closes a socket from the client side without triggering our reconnect logic. */
function drop(s: Socket | undefined): void {
  if (!s) return;
  s.off();
  s.close();
}
