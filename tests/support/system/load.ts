// A crowd of real socket.io-clients behaving like well-written apps: they reconnect on their own,
// and on every (re)connect re-join their room with `since` = the last contiguous seq they saw and
// fetch `message:unacked`, deduping by id. Every acknowledged send goes into a ledger, so the suite
// can check that each intended recipient got each acknowledged message exactly once after dedupe.
import { io, type Socket } from "socket.io-client";
import { signToken } from "../tokens.js";
import type { StoredMessage } from "../../../src/cluster/types.js";

export interface LoadOptions {
  url: string;
  /** Distinct users with one device each (watchers come on top: one per room). */
  users: number;
  /** Users per room. */
  roomSize: number;
  /** The first `secondDevices` users get a second device. */
  secondDevices?: number;
  /** Where second devices connect (e.g. straight to a pod that will survive); default: url. */
  secondDeviceUrl?: (userIndex: number) => string;
  transports?: Array<"websocket" | "polling">;
  /** Cookie jar in Node (engine.io-client >= 6.5): needed for cookie stickiness with polling. */
  withCredentials?: boolean;
  roomSendEveryMs?: number;
  directSendEveryMs?: number;
  reconnectionDelayMs?: number;
  reconnectionDelayMaxMs?: number;
  /** Prefix for user ids and rooms, so runs sharing a Redis never collide. */
  runId: string;
  connectConcurrency?: number;
}

interface Received {
  count: number;
  firstAt: number;
}

export interface Gap {
  device: string;
  disconnectAt: number;
  reason: string;
  connectAt: number;
  /** disconnect -> connect */
  ms: number;
  /** disconnect -> room re-joined and unacked fetched */
  readyMs?: number;
}

export interface PresenceSeen {
  at: number;
  watcher: string;
  room: string;
  userId: string;
  status: "online" | "offline";
}

interface Ack {
  ok: boolean;
  error?: { code: string; message: string };
  [k: string]: unknown;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const jitter = (ms: number) => ms * (0.5 + Math.random());

export class Device {
  readonly id: string;
  socket!: Socket;
  ready = false;
  everConnected = false;
  private gen = 0;
  private lastDisconnect?: { at: number; reason: string };
  private pendingGap?: Gap;
  readonly gaps: Gap[] = [];
  readonly disconnects: Array<{ at: number; reason: string }> = [];
  readonly connectErrors: Array<{ at: number; code: string; message: string }> = [];
  readonly drainingNotices: Array<{ at: number; reconnectInMs: number }> = [];
  readonly rebalanceNotices: Array<{ at: number; reconnectInMs: number }> = [];
  /** Times the room was (re)joined with this device present, and when the device went away: for the presence check. */
  readonly present: Array<{ from: number; to?: number }> = [];
  readonly roomSeen = new Map<string, Received>();
  readonly directSeen = new Map<string, Received>();
  private readonly seqs = new Set<number>();
  contiguous = 0;
  private ackQueue: string[] = [];
  readonly presence: PresenceSeen[] = [];
  /** Watchers: [receivedAt, receivedAt - stored ts] of live room messages, to know how late events arrive. */
  readonly latency: Array<[number, number]> = [];
  roomGaps = 0;

  constructor(
    readonly userId: string,
    readonly deviceNo: number,
    readonly room: string,
    readonly watcher: boolean,
  ) {
    this.id = `${userId}.d${deviceNo}`;
  }

  start(url: string, token: string, o: LoadOptions): void {
    const s = io(url, {
      auth: { token, deviceId: this.id },
      transports: o.transports ?? ["websocket"],
      upgrade: (o.transports ?? ["websocket"]).includes("websocket"),
      withCredentials: o.withCredentials ?? false,
      reconnection: true,
      reconnectionAttempts: Infinity,
      reconnectionDelay: o.reconnectionDelayMs ?? 200,
      reconnectionDelayMax: o.reconnectionDelayMaxMs ?? 1000,
      randomizationFactor: 0.5,
      timeout: 10_000,
      forceNew: true,
    });
    this.socket = s;
    s.on("connect", () => {
      const now = Date.now();
      if (this.lastDisconnect) {
        this.pendingGap = {
          device: this.id,
          disconnectAt: this.lastDisconnect.at,
          reason: this.lastDisconnect.reason,
          connectAt: now,
          ms: now - this.lastDisconnect.at,
        };
        this.gaps.push(this.pendingGap);
        this.lastDisconnect = undefined;
      }
      void this.restore(++this.gen);
    });
    s.on("disconnect", (reason) => {
      const at = Date.now();
      this.gen++;
      this.ready = false;
      this.disconnects.push({ at, reason });
      this.lastDisconnect = { at, reason };
      const open = this.present[this.present.length - 1];
      // A rebalanced socket left when the gateway closed it (notice + reconnectInMs), not when this busy
      // test process got round to its disconnect event: presence judged from the server's side.
      const notice = this.rebalanceNotices.at(-1);
      const closedAt = notice && open && notice.at >= open.from ? Math.min(at, notice.at + notice.reconnectInMs) : at;
      if (open && open.to === undefined) open.to = closedAt;
    });
    s.on("connect_error", (err: Error & { data?: { code?: string } }) => {
      this.connectErrors.push({ at: Date.now(), code: err.data?.code ?? "TRANSPORT", message: err.message });
    });
    s.on("gateway:draining", (d: { reconnectInMs: number }) => this.drainingNotices.push({ at: Date.now(), reconnectInMs: d.reconnectInMs }));
    s.on("gateway:rebalance", (d: { reconnectInMs: number }) => this.rebalanceNotices.push({ at: Date.now(), reconnectInMs: d.reconnectInMs }));
    s.on("message", (m: StoredMessage) => {
      if (this.watcher && m.room !== undefined) this.latency.push([Date.now(), Date.now() - m.ts]);
      this.receive(m);
    });
    if (this.watcher)
      s.on("presence", (p: { room: string; userId: string; status: "online" | "offline" }) => this.presence.push({ at: Date.now(), watcher: this.id, ...p }));
  }

  private async ask(event: string, payload: unknown, timeoutMs = 5000): Promise<Ack> {
    return (await this.socket.timeout(timeoutMs).emitWithAck(event, payload)) as Ack;
  }

  /** After every connect: re-join with since, then fetch pending direct messages; retried until done or disconnected again. */
  private async restore(gen: number): Promise<void> {
    for (let attempt = 0; gen === this.gen; attempt++) {
      try {
        const r = await this.ask("room:join", { room: this.room, since: this.contiguous });
        if (!r.ok) throw new Error(r.error?.code);
        if (gen !== this.gen) return;
        if (r.gap) this.roomGaps++;
        this.present.push({ from: Date.now() });
        for (const m of (r.messages as StoredMessage[] | undefined) ?? []) this.receive(m);
        const u = await this.ask("message:unacked", {});
        if (!u.ok) throw new Error(u.error?.code);
        for (const m of (u.messages as StoredMessage[] | undefined) ?? []) this.receive(m);
        if (gen !== this.gen) return;
        this.everConnected = true;
        this.ready = true;
        if (this.pendingGap) this.pendingGap.readyMs = Date.now() - this.pendingGap.disconnectAt;
        this.pendingGap = undefined;
        void this.flushAcks();
        return;
      } catch {
        await sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }

  /** The device's own room message (never echoed to the sending socket): seen, so `since` can move past it. */
  sawOwn(seq: number): void {
    this.seqs.add(seq);
    while (this.seqs.has(this.contiguous + 1)) this.seqs.delete(++this.contiguous);
  }

  private receive(m: StoredMessage): void {
    const now = Date.now();
    if (m.room !== undefined && m.seq !== undefined) {
      const r = this.roomSeen.get(m.id);
      if (r) r.count++;
      else this.roomSeen.set(m.id, { count: 1, firstAt: now });
      this.seqs.add(m.seq);
      while (this.seqs.has(this.contiguous + 1)) this.seqs.delete(++this.contiguous);
      return;
    }
    if (m.to !== undefined) {
      const r = this.directSeen.get(m.id);
      if (r) r.count++;
      else this.directSeen.set(m.id, { count: 1, firstAt: now });
      this.ackQueue.push(m.id);
      if (this.ackQueue.length === 1) setTimeout(() => void this.flushAcks(), 50);
    }
  }

  private async flushAcks(): Promise<void> {
    if (!this.ready || this.ackQueue.length === 0) return;
    const ids = this.ackQueue.splice(0, 1000);
    try {
      const r = await this.ask("message:ack", { ids });
      if (!r.ok) throw new Error(r.error?.code);
    } catch {
      // Not acknowledged: they come back through message:unacked after the next reconnect (deduped).
      this.ackQueue.unshift(...ids);
    }
  }

  async send(
    payload: Record<string, unknown>,
  ): Promise<{ ok: true; id: string; seq?: number; duplicate: boolean; attempts: number } | { ok: false; attempts: number; code: string }> {
    let code = "NONE";
    for (let attempt = 1; attempt <= 8; attempt++) {
      const waitUntil = Date.now() + 15_000;
      while (!this.ready && Date.now() < waitUntil) await sleep(50);
      if (!this.ready) {
        code = "NOT_CONNECTED";
        continue;
      }
      try {
        const r = await this.ask("message:send", payload);
        if (r.ok) return { ok: true, id: String(r.id), seq: typeof r.seq === "number" ? r.seq : undefined, duplicate: r.duplicate === true, attempts: attempt };
        code = r.error?.code ?? "UNKNOWN";
        if (!["UNAVAILABLE", "INTERNAL", "RATE_LIMITED"].includes(code)) return { ok: false, attempts: attempt, code };
      } catch {
        code = "ACK_TIMEOUT";
      }
      await sleep(100 * attempt);
    }
    return { ok: false, attempts: 8, code };
  }

  close(): void {
    this.gen++;
    this.socket?.close();
  }
}

export interface LedgerEntry {
  id: string;
  kind: "room" | "direct";
  room?: string;
  to?: string;
  sender: string;
  ackedAt: number;
}

export interface LoadReport {
  devices: number;
  sends: { attempted: number; acked: number; failed: number; retried: number; duplicateAnswers: number; failures: Record<string, number> };
  acked: { room: number; direct: number };
  expectedReceipts: number;
  missing: Array<{ device: string; id: string; kind: string }>;
  duplicatesBeforeDedupe: { room: number; direct: number };
  connectErrors: Array<{ device: string; at: number; code: string; message: string }>;
  disconnectReasons: Record<string, number>;
  presence: {
    offlineEvents: number;
    violations: Array<PresenceSeen & { coveringDevice: string; lagMs: number }>;
    offlineOfMultiDeviceUsers: number;
    /** A few offline events with the user's devices' presence intervals relative to the event (diagnostics). */
    samples: Array<{ userId: string; room: string; devices: Array<{ id: string; present: Array<[number, number | null]> }> }>;
  };
  historyGaps: number;
}

export class Load {
  readonly devices: Device[] = [];
  readonly ledger = new Map<string, LedgerEntry>();
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];
  private inflight = new Set<Promise<unknown>>();
  private counters = { attempted: 0, acked: 0, failed: 0, retried: 0, duplicateAnswers: 0 };
  private failures: Record<string, number> = {};
  readonly users: string[] = [];
  readonly rooms: string[] = [];

  constructor(readonly o: LoadOptions) {}

  byUser(userId: string): Device[] {
    return this.devices.filter((d) => d.userId === userId);
  }

  inRoom(room: string): Device[] {
    return this.devices.filter((d) => d.room === room);
  }

  /** Connects every device (bounded concurrency) and waits until each has joined its room. */
  async connect(timeoutMs = 60_000): Promise<void> {
    const o = this.o;
    const roomCount = Math.ceil(o.users / o.roomSize);
    for (let r = 0; r < roomCount; r++) this.rooms.push(`${o.runId}-r${r}`);
    const plan: Array<{ device: Device; url: string }> = [];
    for (let i = 0; i < o.users; i++) {
      const userId = `${o.runId}-u${i}`;
      this.users.push(userId);
      const room = this.rooms[Math.floor(i / o.roomSize)]!;
      plan.push({ device: new Device(userId, 1, room, false), url: o.url });
      if (i < (o.secondDevices ?? 0)) plan.push({ device: new Device(userId, 2, room, false), url: o.secondDeviceUrl?.(i) ?? o.url });
    }
    for (const room of this.rooms) plan.push({ device: new Device(`${room}-watcher`, 1, room, true), url: o.url });
    const tokens = new Map<string, string>();
    for (const { device } of plan) if (!tokens.has(device.userId)) tokens.set(device.userId, await signToken(device.userId));
    this.devices.push(...plan.map((p) => p.device));

    const deadline = Date.now() + timeoutMs;
    const concurrency = o.connectConcurrency ?? 50;
    for (let i = 0; i < plan.length; i += concurrency) {
      const batch = plan.slice(i, i + concurrency);
      for (const { device, url } of batch) device.start(url, tokens.get(device.userId)!, o);
      while (!batch.every((b) => b.device.ready)) {
        if (Date.now() > deadline)
          throw new Error(`only ${this.devices.filter((d) => d.ready).length}/${plan.length} devices connected within ${timeoutMs} ms`);
        await sleep(25);
      }
    }
  }

  /** Starts continuous room and direct traffic from every non-watcher device. */
  startTraffic(): void {
    const o = this.o;
    const senders = this.devices.filter((d) => !d.watcher);
    for (const d of senders) {
      let n = 0;
      // The first send at a uniform random point of the period: steady traffic from the start.
      const loop = (kind: "room" | "direct", every: number, first = false) => {
        const t = setTimeout(
          () => {
            if (this.stopped) return;
            loop(kind, every);
            if (!d.ready) return;
            const clientMsgId = `${d.id}:${kind}:${++n}`;
            const to = kind === "direct" ? this.users.filter((u) => u !== d.userId)[Math.floor(Math.random() * (this.users.length - 1))]! : undefined;
            const payload = kind === "room" ? { room: d.room, body: { n, from: d.id }, clientMsgId } : { to, body: { n, from: d.id }, clientMsgId };
            this.counters.attempted++;
            const p = d.send(payload).then((r) => {
              if (r.attempts > 1) this.counters.retried++;
              if (!r.ok) {
                this.counters.failed++;
                this.failures[r.code] = (this.failures[r.code] ?? 0) + 1;
                return;
              }
              this.counters.acked++;
              if (r.duplicate) this.counters.duplicateAnswers++;
              if (kind === "room" && r.seq !== undefined) d.sawOwn(r.seq);
              this.ledger.set(`${kind}:${kind === "room" ? d.room : to}:${r.id}`, {
                id: r.id,
                kind,
                room: kind === "room" ? d.room : undefined,
                to,
                sender: d.id,
                ackedAt: Date.now(),
              });
            });
            this.inflight.add(p);
            void p.finally(() => this.inflight.delete(p));
          },
          first ? Math.random() * every : jitter(every),
        );
        this.timers.push(t);
      };
      loop("room", o.roomSendEveryMs ?? 1000, true);
      loop("direct", o.directSendEveryMs ?? 2000, true);
    }
  }

  /** Stops new sends and waits for the ones in flight (including their retries). */
  async stopTraffic(timeoutMs = 30_000): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    const deadline = Date.now() + timeoutMs;
    while (this.inflight.size > 0 && Date.now() < deadline) await sleep(50);
  }

  private missing(): Array<{ device: string; id: string; kind: string }> {
    const out: Array<{ device: string; id: string; kind: string }> = [];
    const roomMembers = new Map(this.rooms.map((r) => [r, this.inRoom(r)]));
    const userDevices = new Map(this.users.map((u) => [u, this.byUser(u)]));
    for (const e of this.ledger.values()) {
      const recipients = e.kind === "room" ? roomMembers.get(e.room!)!.filter((d) => d.id !== e.sender) : userDevices.get(e.to!)!;
      for (const d of recipients) if (!(e.kind === "room" ? d.roomSeen : d.directSeen).has(e.id)) out.push({ device: d.id, id: e.id, kind: e.kind });
    }
    return out;
  }

  /** Waits until every device is ready and every acknowledged message has reached every intended recipient. */
  async settle(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.devices.every((d) => d.ready) && this.missing().length === 0) return;
      await sleep(200);
    }
  }

  /** Gaps of the devices that lost their connection between from and to. */
  gapsBetween(from: number, to: number): Gap[] {
    return this.devices.flatMap((d) => d.gaps.filter((g) => g.disconnectAt >= from && g.disconnectAt <= to));
  }

  /**
   * presence: an offline event is wrong when a device of the user had (re)joined the room at least
   * `joinedBeforeMs` before the watcher got the event, plus how late that watcher was getting live
   * room messages around then (the event's own delivery delay on a loaded machine),
   * and was still connected `stillAfterMs` after it.
   */
  report(presence: { joinedBeforeMs: number; stillAfterMs: number } = { joinedBeforeMs: 750, stillAfterMs: 250 }): LoadReport {
    const missing = this.missing();
    let roomDup = 0;
    let directDup = 0;
    for (const d of this.devices) {
      for (const r of d.roomSeen.values()) roomDup += r.count - 1;
      for (const r of d.directSeen.values()) directDup += r.count - 1;
    }
    const reasons: Record<string, number> = {};
    for (const d of this.devices) for (const x of d.disconnects) reasons[x.reason] = (reasons[x.reason] ?? 0) + 1;
    const offline = this.devices.flatMap((d) => d.presence.filter((p) => p.status === "offline"));
    // A user shown offline while one of their devices had been in the room since well before the event
    // and stayed there until well after it: that device was connected the whole time, the event is wrong.
    const violations: Array<PresenceSeen & { coveringDevice: string; lagMs: number }> = [];
    for (const ev of offline) {
      const watcher = this.devices.find((d) => d.id === ev.watcher);
      const lag = Math.max(0, ...(watcher?.latency.filter(([at]) => Math.abs(at - ev.at) <= 5000).map(([, l]) => l) ?? []));
      const covering = this.byUser(ev.userId).find(
        (d) =>
          d.room === ev.room &&
          d.present.some((p) => p.from <= ev.at - presence.joinedBeforeMs - lag && (p.to === undefined || p.to >= ev.at + presence.stillAfterMs)),
      );
      if (covering) violations.push({ ...ev, coveringDevice: covering.id, lagMs: lag });
    }
    const multi = new Set(this.devices.filter((d) => d.deviceNo === 2).map((d) => d.userId));
    let expected = 0;
    for (const e of this.ledger.values())
      expected += e.kind === "room" ? this.inRoom(e.room!).filter((d) => d.id !== e.sender).length : this.byUser(e.to!).length;
    return {
      devices: this.devices.length,
      sends: { ...this.counters, failures: this.failures },
      acked: {
        room: [...this.ledger.values()].filter((e) => e.kind === "room").length,
        direct: [...this.ledger.values()].filter((e) => e.kind === "direct").length,
      },
      expectedReceipts: expected,
      missing,
      duplicatesBeforeDedupe: { room: roomDup, direct: directDup },
      connectErrors: this.devices.flatMap((d) => d.connectErrors.map((e) => ({ device: d.id, ...e }))),
      disconnectReasons: reasons,
      presence: {
        offlineEvents: offline.length,
        violations,
        offlineOfMultiDeviceUsers: offline.filter((e) => multi.has(e.userId)).length,
        samples: offline.slice(0, 5).map((ev) => ({
          userId: ev.userId,
          room: ev.room,
          devices: this.byUser(ev.userId).map((d) => ({
            id: d.id,
            present: d.present.map((p): [number, number | null] => [p.from - ev.at, p.to === undefined ? null : p.to - ev.at]),
          })),
        })),
      },
      historyGaps: this.devices.reduce((n, d) => n + d.roomGaps, 0),
    };
  }

  close(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    for (const d of this.devices) d.close();
  }
}

/** The message side of a load report as the system tests keep it in their figures files: counts, not ids. */
export function messageFigures(r: LoadReport) {
  return { sends: r.sends, acked: r.acked, expectedReceipts: r.expectedReceipts, lost: r.missing.length, duplicatesBeforeDedupe: r.duplicatesBeforeDedupe };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Counts of `times` (relative to `origin`) in `buckets` equal slices of `span` ms; later ones land in an overflow bucket. */
export function histogram(times: number[], origin: number, span: number, buckets = 10): number[] {
  const out = new Array<number>(buckets + 1).fill(0);
  for (const t of times) {
    const i = Math.floor(((t - origin) / span) * buckets);
    out[Math.max(0, Math.min(buckets, i))]!++;
  }
  return out;
}

export function gapSummary(gaps: Gap[]): { n: number; p50: number; p99: number; max: number; readyP50: number; readyP99: number; readyMax: number } {
  const ms = gaps.map((g) => g.ms);
  const ready = gaps.map((g) => g.readyMs ?? NaN).filter((x) => !Number.isNaN(x));
  return {
    n: gaps.length,
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    max: ms.length ? Math.max(...ms) : NaN,
    readyP50: percentile(ready, 50),
    readyP99: percentile(ready, 99),
    readyMax: ready.length ? Math.max(...ready) : NaN,
  };
}
