// "Store, then fan out" for durable messages, written once: the client event message:send and the
// backend API's publish both go through here.
import type { GatewayServer } from "../protocol/session.js";
import { userRoom } from "../auth/room-access.js";
import type { AppendResult, ClusterServices, StoredMessage } from "../cluster/types.js";
import { withFields } from "../cluster/log-positions.js";
import type { Logger } from "../ops/logger.js";
import type { GatewayMetrics } from "../ops/metrics.js";

/** What the caller provides; the log assigns id and position. */
export type OutgoingMessage = Omit<StoredMessage, "id" | "seq" | "epoch" | "room" | "to">;

export interface SendOptions {
  /** Retries with the same key store nothing twice and answer the first message (`duplicate: true`). */
  idempotencyKey?: string;
  /** A socket id left out of the room fan-out (the sender of message:send: it has the ack). */
  exceptSocketId?: string;
}

export interface Sent {
  message: StoredMessage;
  /** The key was seen before: nothing was stored this time (the first message is fanned out again, same id). */
  duplicate: boolean;
}

/**
 * Guarantee: a send resolves once the message is stored (room history or the recipient's inbox) and
 * only then; that is the acknowledgement. Fan-out to connected sockets cluster-wide is a separate,
 * best-effort step after it: a fan-out failure is logged and counted (fanout_errors_total) and the
 * send still resolves, so a retry with the same idempotency key never stores a second copy. Sockets
 * that miss a fan-out get the message from history / inbox (re-join with `since`, message:unacked, or
 * the pod's resync after a detected fan-out interruption). A failed store rejects and fans out nothing.
 */
export interface MessageDelivery {
  toRoom(room: string, message: OutgoingMessage, options?: SendOptions): Promise<Sent>;
  toUser(userId: string, message: OutgoingMessage, options?: SendOptions): Promise<Sent>;
}

/** For process-level tests only (SOCKETGATE_TEST_FAULTS): makes the next fan-outs throw. */
export interface FanOutFaults {
  failNext: number;
}

export class StoreThenFanOut implements MessageDelivery {
  constructor(
    private readonly io: GatewayServer,
    private readonly cluster: Pick<ClusterServices, "history" | "inbox">,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly faults?: FanOutFaults,
  ) {}

  toRoom(room: string, message: OutgoingMessage, options: SendOptions = {}): Promise<Sent> {
    return this.send(
      () => this.cluster.history.append(room, message, options),
      (stored) => {
        const target = this.io.to(room);
        (options.exceptSocketId ? target.except(options.exceptSocketId) : target).emit("message", stored);
      },
    );
  }

  toUser(userId: string, message: OutgoingMessage, options: SendOptions = {}): Promise<Sent> {
    return this.send(
      () => this.cluster.inbox.append(userId, withFields(message, { to: userId }), options),
      (stored) => {
        this.io.to(userRoom(userId)).emit("message", stored);
      },
    );
  }

  private async send(store: () => Promise<AppendResult>, fanOut: (stored: StoredMessage) => void): Promise<Sent> {
    // The idempotency key is recorded by the store in the same atomic step as the append, so nothing
    // that fails later (a deadline, the fan-out) can lead a retry to store a second copy.
    const { message, duplicate } = await store();
    // A duplicate is fanned out again under its first id (clients dedupe by id): the first attempt may
    // have stored it and then failed before the fan-out (e.g. its deadline fired while Redis still ran it).
    this.fanOut(message, fanOut);
    return { message, duplicate };
  }

  private fanOut(message: StoredMessage, fanOut: (stored: StoredMessage) => void): void {
    try {
      if (this.faults && this.faults.failNext > 0) {
        this.faults.failNext--;
        throw new Error("injected test fault: fan-out failure");
      }
      fanOut(message);
    } catch (err) {
      // Stored is acknowledged: the message reaches its readers through history / inbox instead.
      this.metrics.fanoutErrors.inc();
      this.logger.error({ err, messageId: message.id }, "fan-out failed after the message was stored; answered ok, readers catch up from history");
    }
  }
}
