// Admission of Engine.IO sessions, before any Socket.IO packet: capacity and per-address rate (the
// public server adds draining, with the same kind of refusal).
// These refusals mean "retry later / elsewhere", so they are given at the transport level (HTTP 503 /
// 429 on the handshake request or the WebSocket upgrade): the stock socket.io-client retries a failed
// transport with backoff, whereas it treats a Socket.IO CONNECT_ERROR as final.
// Every Engine.IO session holds one capacity slot from its handshake on, whether or not it ever sends
// a Socket.IO CONNECT, and carries at most one Socket.IO connection (transport/bounded-parser.ts):
// so sockets + half-open sessions + pending token checks together never exceed MAX_CONNECTIONS.
import type { ErrorCode } from "../errors.js";
import type { FailureReason } from "../ops/metrics.js";
import type { AddressRateLimit } from "../transport/address-rate-limit.js";
import { clientAddress } from "../transport/client-address.js";
import type { ConnectionLedger } from "../transport/engine-accounting.js";

/** A refusal the client should retry, with the HTTP status it is answered with. */
export interface RetryableRefusal {
  code: Extract<ErrorCode, "DRAINING" | "OVER_CAPACITY" | "RATE_LIMITED">;
  status: "503 Service Unavailable" | "429 Too Many Requests";
  message: string;
}

export const REFUSALS: Record<RetryableRefusal["code"], RetryableRefusal> = {
  DRAINING: { code: "DRAINING", status: "503 Service Unavailable", message: "DRAINING: this gateway is draining: reconnect to another one" },
  OVER_CAPACITY: { code: "OVER_CAPACITY", status: "503 Service Unavailable", message: "OVER_CAPACITY: this gateway is at capacity: retry later" },
  RATE_LIMITED: { code: "RATE_LIMITED", status: "429 Too Many Requests", message: "RATE_LIMITED: too many connections from this address: retry later" },
};

export const REASON: Record<RetryableRefusal["code"], FailureReason> = { DRAINING: "draining", OVER_CAPACITY: "capacity", RATE_LIMITED: "rate_limited" };

/** engine.io hands allowRequest's message back to abortRequest: this finds the refusal it came from. */
export function refusalOf(message: unknown): RetryableRefusal | undefined {
  if (typeof message !== "string") return undefined;
  const code = message.slice(0, message.indexOf(":"));
  return Object.hasOwn(REFUSALS, code) ? REFUSALS[code as RetryableRefusal["code"]] : undefined;
}

export interface SessionGateOptions {
  maxConnections: number;
  trustProxyHops: number;
  /** Counts each refusal as one attempt that failed. */
  ledger: Pick<ConnectionLedger, "refused">;
  addressRateLimit?: AddressRateLimit;
  /** Engine.IO sessions open now (engine.clientsCount): connected sockets and sessions still before CONNECT. */
  engineSessions(): number;
}

export interface HandshakeRequest {
  headers: Record<string, string | string[] | undefined>;
  remoteAddress: string;
}

export interface SessionGate {
  /** Returns the refusal for a new Engine.IO session, or undefined to admit it (it then holds a slot). */
  admit(req: HandshakeRequest): RetryableRefusal | undefined;
  /** engine.io counted a new session (its "connection" event): the reservation made by admit() ends. */
  opened(): void;
}

export function createSessionGate(o: SessionGateOptions): SessionGate {
  // engine.io counts a session (clientsCount++) a few microtasks after allowRequest admits it; requests
  // handled before then (pipelined handshakes in one read, a burst of upgrades) would all see the old
  // count. Each admission holds a reservation until engine.io counts a session, or, if the handshake
  // failed after admission, until the next macrotask (engine.io has settled it by then).
  const reservations: Array<{ live: boolean }> = [];
  let reserved = 0;
  const end = (r: { live: boolean } | undefined) => {
    if (r?.live) {
      r.live = false;
      reserved--;
    }
    while (reservations.length > 0 && !reservations[0]!.live) reservations.shift();
  };
  return {
    admit(req) {
      const refuse = (code: RetryableRefusal["code"]) => {
        o.ledger.refused(REASON[code]);
        return REFUSALS[code];
      };
      if (o.engineSessions() + reserved >= o.maxConnections) return refuse("OVER_CAPACITY");
      if (o.addressRateLimit?.enabled && !o.addressRateLimit.take(clientAddress(req.remoteAddress, req.headers["x-forwarded-for"], o.trustProxyHops)))
        return refuse("RATE_LIMITED");
      const reservation = { live: true };
      reservations.push(reservation);
      reserved++;
      setImmediate(end, reservation);
      return undefined;
    },
    opened() {
      end(reservations.find((r) => r.live));
    },
  };
}
