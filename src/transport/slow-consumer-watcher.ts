// Backpressure of one server: cuts sockets whose send buffer stays over the limit, so uWS never drops
// their messages unnoticed, and counts uWS's own hard-limit closes of sockets it saw slow.
// A cut closes the transport only: socket.io-client reconnects and catches up through room history.
import type { GatewayServer, GatewaySocket } from "../protocol/session.js";
import type { Logger } from "../ops/logger.js";
import type { GatewayMetrics } from "../ops/metrics.js";

interface UwsSocketLike {
  getBufferedAmount(): number;
}

/** Bytes (WebSocket) or packets x 1 KiB (polling) waiting to be sent to this socket. */
export function bufferedBytes(socket: GatewaySocket): number {
  const conn = socket.conn as unknown as { transport: { name: string; socket?: UwsSocketLike }; writeBuffer: unknown[] };
  let bytes = conn.writeBuffer.length * 1024;
  if (conn.transport.name === "websocket" && conn.transport.socket) {
    try {
      bytes += conn.transport.socket.getBufferedAmount();
    } catch {
      // uWS throws on a socket that closed a moment ago: nothing left to measure.
    }
  }
  return bytes;
}

export interface BackpressureLimits {
  /** Buffered bytes past which a socket is slow. */
  limitBytes: number;
  /** How long a socket may stay slow before it is cut. */
  graceMs: number;
  /** uWS's own limit (maxBackpressure): uWS closes the socket there by itself. */
  hardLimitBytes: number;
}

export class Backpressure {
  private readonly since = new WeakMap<GatewaySocket, number>();
  /**
   * Transports seen over the limit and not cut yet. If uWS closes one of them at its hard limit (close
   * code 1006, indistinguishable from a vanished client otherwise), that close is a slow-consumer cut
   * too and is counted as one (see closedByUws).
   */
  private readonly slow = new WeakSet<object>();
  private timer?: NodeJS.Timeout;
  /**
   * Past this many buffered bytes a socket is cut at the next check, without grace: uWS closes it by
   * itself at its hard limit, and that close cannot be told apart from a vanished client. Half the hard
   * limit leaves a whole check interval of room.
   */
  private readonly urgentBytes: number;

  constructor(
    private readonly io: GatewayServer,
    private readonly limits: BackpressureLimits,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {
    this.urgentBytes = limits.hardLimitBytes / 2;
  }

  /** 100 ms: a burst must outrun the watcher from the urgent mark to uWS's hard limit within one check to beat it. */
  start(intervalMs = 100): void {
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Called for every abnormal (1006) WebSocket close: counted when uWS cut a socket this object saw slow. */
  closedByUws(transport: object): void {
    if (!this.slow.delete(transport)) return;
    this.metrics.slowConsumerDisconnects.inc();
    this.logger.warn({ maxBackpressure: this.limits.hardLimitBytes }, "slow consumer cut by the uWS hard limit");
  }

  check(now = Date.now()): void {
    for (const socket of this.io.of("/").sockets.values()) {
      const bytes = bufferedBytes(socket);
      if (bytes < this.limits.limitBytes) {
        if (this.since.delete(socket)) this.slow.delete(socket.conn.transport);
        continue;
      }
      const first = this.since.get(socket) ?? now;
      this.since.set(socket, first);
      this.slow.add(socket.conn.transport);
      if (now - first < this.limits.graceMs && bytes < this.urgentBytes) continue;
      this.since.delete(socket);
      this.slow.delete(socket.conn.transport);
      this.metrics.slowConsumerDisconnects.inc();
      socket.data.closing = "slow_consumer";
      this.logger.warn({ socketId: socket.id, userId: socket.data.identity.userId, bufferedBytes: bytes }, "slow consumer cut");
      socket.conn.close();
    }
  }
}
