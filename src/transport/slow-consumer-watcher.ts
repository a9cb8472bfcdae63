// Cuts sockets whose send buffer stays over the limit, so uWS never drops their messages unnoticed.
// A cut closes the transport only: socket.io-client reconnects and catches up through room history.
import type { Server, Socket } from "socket.io";
import type { Logger } from "../ops/logger.js";
import type { GatewayMetrics } from "../ops/metrics.js";
import { sessionOf } from "../protocol/session.js";

interface UwsSocketLike {
  getBufferedAmount(): number;
}

/** Bytes (WebSocket) or packets x 1 KiB (polling) waiting to be sent to this socket. */
export function bufferedBytes(socket: Socket): number {
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
  private readonly since = new WeakMap<Socket, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly io: Server,
    private readonly limitBytes: number,
    private readonly graceMs: number,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {}

  start(intervalMs = 250): void {
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
        this.since.delete(socket);
        continue;
      }
      const first = this.since.get(socket) ?? now;
      this.since.set(socket, first);
      if (now - first < this.graceMs) continue;
      this.since.delete(socket);
      this.metrics.slowConsumerDisconnects.inc();
      sessionOf(socket).closing = "slow_consumer";
      this.logger.warn({ socketId: socket.id, userId: sessionOf(socket).identity?.userId, bufferedBytes: bytes }, "slow consumer cut");
      socket.conn.close();
    }
  }
}
