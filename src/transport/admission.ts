// Decides whether a GatewaySocket.IO handshake may become a connection: draining, capacity, token.
// A refusal reaches the client as connect_error with data.code, and is counted by reason.
import type { GatewaySocket } from "../protocol/session.js";
import { z } from "zod";
import { ID_PATTERN } from "../auth/room-access.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { classify, GatewayError, toErrorBody } from "../errors.js";
import type { FailureReason, GatewayMetrics } from "../ops/metrics.js";
import type { Logger } from "../ops/logger.js";
import { inSpan, startHandshakeSpan } from "../ops/tracing.js";
import { TokenBucket } from "../protocol/token-bucket.js";
import type { Session } from "../protocol/session.js";
import type { AddressRateLimit } from "./address-rate-limit.js";
import { clientAddress } from "./client-address.js";

const authSchema = z.object({
  token: z.unknown().optional(),
  deviceId: z.string().regex(ID_PATTERN, "auth.deviceId must be 1-128 characters of A-Z a-z 0-9 . _ - : @").optional(),
});

export interface AdmissionOptions {
  verifier: TokenVerifier;
  metrics: GatewayMetrics;
  logger: Logger;
  maxConnections: number;
  trustProxyHops: number;
  rateLimitEventsPerS: number;
  rateLimitBurst: number;
  /** Per-address connection rate limit (CONN_RATE_PER_ADDRESS_PER_S); checked before any token work. */
  addressRateLimit?: AddressRateLimit;
  isDraining(): boolean;
  /** Sockets connected now on this pod. */
  connectedCount(): number;
}

export type Middleware = (socket: GatewaySocket, next: (err?: Error) => void) => void;

export interface Admission {
  middleware: Middleware;
  /** Call from the connection handler: the socket now counts in connectedCount, its reserved slot is freed. */
  connected(socket: GatewaySocket): void;
}

export function createAdmission(o: AdmissionOptions): Admission {
  /** Handshakes admitted past the capacity check but not yet connected: they hold a slot. */
  let reserved = 0;
  const releases = new WeakMap<GatewaySocket, () => void>();

  const admit = async (socket: GatewaySocket): Promise<Session> => {
    if (o.isDraining()) throw new GatewayError("DRAINING", "this gateway is draining: reconnect to another one");
    if (o.addressRateLimit?.enabled) {
      const address = clientAddress(socket.handshake.address, socket.handshake.headers["x-forwarded-for"], o.trustProxyHops);
      if (!o.addressRateLimit.take(address)) throw new GatewayError("RATE_LIMITED", "too many connections from this address: retry later");
    }
    if (o.connectedCount() + reserved >= o.maxConnections) throw new GatewayError("OVER_CAPACITY", "this gateway is at capacity: retry later");
    reserved++;
    let held = true;
    // The slot is held until the socket is connected (then connectedCount covers it) or its transport closes.
    const release = () => {
      if (held) (held = false), reserved--;
    };
    try {
      const auth = authSchema.safeParse(socket.handshake.auth ?? {});
      if (!auth.success) throw new GatewayError("BAD_REQUEST", auth.error.issues[0]?.message ?? "invalid auth object");
      const identity = await o.verifier.verify(auth.data.token);
      // The token is verified: socket.io would keep it in handshake.auth for the socket's lifetime
      // (about 170 bytes a connection, and a credential nothing needs any more).
      if (auth.data.token !== undefined) {
        const { token: _verified, ...rest } = socket.handshake.auth as Record<string, unknown>;
        socket.handshake.auth = rest;
      }
      const headers = socket.handshake.headers;
      socket.conn.once("close", release);
      releases.set(socket, release);
      return {
        identity,
        deviceId: auth.data.deviceId ?? "default",
        rooms: new Set(),
        bucket: new TokenBucket(o.rateLimitEventsPerS, o.rateLimitBurst),
        failures: 0,
        transport: socket.conn.transport.name === "websocket" ? "websocket" : "polling",
        clientAddress: clientAddress(socket.handshake.address, headers["x-forwarded-for"], o.trustProxyHops),
        userAgent: String(headers["user-agent"] ?? "").slice(0, 256),
      };
    } catch (err) {
      release();
      throw err;
    }
  };

  const middleware: Middleware = (socket, next) => {
    o.metrics.connectionAttempts.inc();
    // auth.traceparent (W3C) lets a client put its handshake in its own trace. Undefined when tracing is off.
    const span = startHandshakeSpan((socket.handshake.auth as Record<string, unknown> | undefined)?.traceparent);
    inSpan(span, () => admit(socket)).then(
      (session) => {
        span?.end();
        // The session literal becomes socket.data itself (nothing is stored there before admission):
        // copying it into socket.io's empty {} would push its fields into an out-of-object property array.
        socket.data = session;
        next();
      },
      (err: unknown) => {
        const body = toErrorBody(err);
        const reason = classify(body.code).handshakeReason;
        span?.end(body, { "socketgate.failure_reason": reason });
        o.metrics.connectionFailures.inc({ reason });
        if (!(err instanceof GatewayError)) o.logger.error({ err }, "handshake failed unexpectedly");
        else o.logger.debug({ code: body.code, address: socket.handshake.address }, "handshake refused");
        const refusal = new Error(body.message) as Error & { data: unknown };
        refusal.data = body;
        next(refusal);
      },
    );
  };

  return {
    middleware,
    connected(socket) {
      const release = releases.get(socket);
      if (!release) return;
      release();
      releases.delete(socket);
      // The slot is free now: the "close" listener (a closure and its once-wrapper) would otherwise live as long as the socket.
      socket.conn.off("close", release);
    },
  };
}
