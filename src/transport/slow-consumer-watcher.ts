// Cuts sockets whose send buffer stays over the limit, so uWS never drops their messages unnoticed.
// A cut closes the transport only: socket.io-client reconnects and catches up through room history.
import type { GatewayServer, GatewaySocket } from "../protocol/session.js";
import type { Logger } from "../ops/logger.js";
import type { GatewayMetrics } from "../ops/metrics.js";

interface UwsSocketLike {
  getBufferedAmount(): number;
}

/**
 * Transports the watcher has seen over the limit and not cut yet. If uWS closes one of them at its
 * hard limit (close code 1006, indistinguishable from a vanished client otherwise), that close is a
 * slow-consumer cut too and is counted as one (see public-server.ts).
 */
export const slowTransports = new WeakSet<object>();

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

export class SlowConsumerWatcher {
  private readonly since = new WeakMap<GatewaySocket, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly io: GatewayServer,
    private readonly limitBytes: number,
    private readonly graceMs: number,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    /**
     * Past this many buffered bytes a socket is cut at the next check, without grace: uWS closes it
     * by itself at its hard limit (twice this), and that close cannot be told apart from a vanished
     * client, so it would go uncounted. Half the hard limit leaves a whole check interval of room.
     */
    private readonly urgentBytes: number = Number.POSITIVE_INFINITY,
  ) {}

  /** 100 ms: a burst must outrun the watcher from the urgent mark to uWS's hard limit within one check to beat it. */
  start(intervalMs = 100): void {
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  check(now = Date.now()): void {
    for (const socket of this.io.of("/").sockets.values()) {
      const bytes = bufferedBytes(socket);
      if (bytes < this.limitBytes) {
        if (this.since.delete(socket)) slowTransports.delete(socket.conn.transport);
        continue;
      }
      const first = this.since.get(socket) ?? now;
      this.since.set(socket, first);
      slowTransports.add(socket.conn.transport);
      if (now - first < this.graceMs && bytes < this.urgentBytes) continue;
      this.since.delete(socket);
      slowTransports.delete(socket.conn.transport);
      this.metrics.slowConsumerDisconnects.inc();
      socket.data.closing = "slow_consumer";
      this.logger.warn({ socketId: socket.id, userId: socket.data.identity?.userId, bufferedBytes: bytes }, "slow consumer cut");
      socket.conn.close();
    }
  }
}
