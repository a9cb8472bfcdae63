// Connection accounting: one tally of attempts and failures per Engine.IO session, so the failure ratio divides like by like.
import type { Logger } from "../ops/logger.js";
import type { FailureReason, GatewayMetrics } from "../ops/metrics.js";
import type { GatewayServer } from "../protocol/session.js";
import type { ParserViolation } from "./bounded-parser.js";

const ENGINE_FORBIDDEN = 4;

/**
 * Where connection attempts and failures are counted. Guarantee: every failure is counted against
 * exactly one attempt of the same Engine.IO session (or of the refused request), and no attempt is
 * counted twice, so `connection_failures_total <= connection_attempts_total` on every path.
 * An attempt is a Socket.IO CONNECT that reached the server (the admission middleware's, or a second
 * one cut by the parser), or a request / session refused before it could send one.
 */
export interface ConnectionLedger {
  /** A request refused before any Engine.IO session exists (CORS, draining, capacity, rate, bad transport). */
  refused(reason: FailureReason): void;
  /** The admission middleware started the handshake of this session's CONNECT. */
  attempted(conn: object): void;
  /** The session failed (its handshake, or the session itself); counts an attempt too when none is left to match it. */
  failed(conn: object, reason: FailureReason): void;
}

interface Tally {
  attempts: number;
  failures: number;
}

interface EnginePacket {
  type: string;
}

interface EngineConn {
  readonly readyState: string;
  readonly transport: object;
  on(event: "packet", fn: (packet: EnginePacket) => void): unknown;
  on(event: "message", fn: () => void): unknown;
  once(event: "close", fn: (reason: string, description?: unknown) => void): unknown;
}

export class ConnectionAccounting implements ConnectionLedger {
  private readonly tallies = new WeakMap<object, Tally>();
  /** uWS WebSocket transports closed for a frame over MAX_PAYLOAD_BYTES (engine.io only sees "transport close"). */
  private readonly cutForFrameSize = new WeakSet<object>();
  /**
   * The session whose Engine.IO message socket.io is decoding right now: set on the message's "packet"
   * event, cleared on its "message" event, which engine.io emits right after "data" (socket.io's decoder).
   * The decoder and a close it causes run synchronously in between, so they know whose packet it was.
   */
  private decoding: Tally | undefined;

  constructor(private readonly metrics: GatewayMetrics) {}

  refused(reason: FailureReason): void {
    this.metrics.connectionAttempts.inc();
    this.metrics.connectionFailures.inc({ reason });
  }

  attempted(conn: object): void {
    this.attempt(this.tallyOf(conn));
  }

  failed(conn: object, reason: FailureReason): void {
    this.fail(this.tallyOf(conn), reason);
  }

  /** The bounded parser cut the session whose message it was decoding. */
  parserViolation(reason: ParserViolation): void {
    const tally = this.decoding ?? { attempts: 0, failures: 0 };
    // A second CONNECT is an attempt of its own (a stock client re-calling connect() after an auth
    // failure sends one), refused as a bad request.
    if (reason === "second_connect") this.attempt(tally);
    this.fail(tally, reason === "second_connect" ? "bad_request" : "payload_too_large");
  }

  /** uWS closed this WebSocket transport itself because a frame announced more than MAX_PAYLOAD_BYTES. */
  frameTooLarge(transport: object): void {
    this.cutForFrameSize.add(transport);
  }

  /** Counts engine.io's own refusals and the sessions that end without ever reaching admission. */
  watch(io: GatewayServer, logger: Logger): void {
    io.engine.on("connection_error", (err: { code?: number; message?: string }) => {
      // FORBIDDEN comes only from allowRequest (public-server.ts), which already counted its refusal.
      if (err.code !== ENGINE_FORBIDDEN) this.refused("transport_error");
      logger.debug({ code: err.code, message: err.message }, "engine.io refused a request");
    });
    io.engine.on("connection", (conn: EngineConn) => this.track(conn));
  }

  private track(conn: EngineConn): void {
    const tally: Tally = { attempts: 0, failures: 0 };
    this.tallies.set(conn, tally);
    conn.on("packet", (packet) => {
      if (packet.type === "message") this.decoding = tally;
    });
    conn.on("message", () => {
      this.decoding = undefined;
      // socket.io closed the session on this very message (malformed, not a CONNECT, a parser bound)
      // while it had not reached admission: a bad first packet.
      if (conn.readyState !== "open" && tally.attempts === 0) this.fail(tally, "bad_request");
    });
    conn.once("close", (reason, description) => {
      const closedByItsOwnPacket = this.decoding === tally;
      if (reason === "transport error" && description instanceof Error && description.message === "payload too large") {
        this.fail(tally, "payload_too_large"); // a polling body over MAX_PAYLOAD_BYTES (HTTP 413)
      } else if (reason === "transport close" && this.cutForFrameSize.has(conn.transport)) {
        this.fail(tally, "payload_too_large");
      } else if (tally.attempts === 0 && closedByItsOwnPacket) {
        this.fail(tally, "bad_request");
      } else if (tally.attempts === 0 && (reason === "forced close" || reason === "ping timeout")) {
        // Closed by the server before any CONNECT: CONNECT_TIMEOUT_MS, or a half-open polling session.
        this.fail(tally, "handshake_timeout");
      }
    });
  }

  private tallyOf(conn: object): Tally {
    let tally = this.tallies.get(conn);
    if (!tally) this.tallies.set(conn, (tally = { attempts: 0, failures: 0 }));
    return tally;
  }

  private attempt(tally: Tally): void {
    tally.attempts++;
    this.metrics.connectionAttempts.inc();
  }

  private fail(tally: Tally, reason: FailureReason): void {
    // Every attempt of this session already has its failure (or it never had one): this failure is its own attempt.
    if (tally.failures >= tally.attempts) this.attempt(tally);
    tally.failures++;
    this.metrics.connectionFailures.inc({ reason });
  }
}
