// Decides whether a Socket.IO CONNECT becomes a connection: the token (verified, not revoked by a
// kick) and the auth object. Capacity and per-address rate were settled when the Engine.IO session was
// admitted (auth/session-gate.ts), so nothing here can be starved by pending token checks: each
// session carries one CONNECT, and sessions are bounded by MAX_CONNECTIONS.
// A client-side problem (token, auth object) is a CONNECT_ERROR with data.code, final for
// socket.io-client; a "try again" (draining, the kick store unreachable) closes the transport instead,
// which socket.io-client retries with backoff.
import { z } from "zod";
import { classify, GatewayError, toErrorBody, type ErrorCode } from "../errors.js";
import type { Logger } from "../ops/logger.js";
import { inSpan, startHandshakeSpan } from "../ops/tracing.js";
import { TokenBucket } from "../protocol/token-bucket.js";
import type { GatewaySocket, Session } from "../protocol/session.js";
import { clientAddress } from "../transport/client-address.js";
import type { ConnectionLedger } from "../transport/engine-accounting.js";
import { ID_PATTERN } from "./room-access.js";
import type { KickStore } from "../cluster/kick-store.js";
import { assertNotKicked } from "./kicks.js";
import type { TokenVerifier } from "./token-verifier.js";

/** Refusals the client should retry: the transport is closed instead of answering CONNECT_ERROR. */
const RETRY_BY_CLOSE: ReadonlySet<ErrorCode> = new Set(["DRAINING", "UNAVAILABLE"]);

const authSchema = z.object({
  token: z.unknown().optional(),
  deviceId: z.string().regex(ID_PATTERN, "auth.deviceId must be 1-128 characters of A-Z a-z 0-9 . _ - : @").optional(),
});

export interface AdmissionOptions {
  verifier: TokenVerifier;
  /** Tokens issued before their user's last kick are refused (AUTH_INVALID); an unreadable record refuses as retryable. */
  kicks: KickStore;
  /** Counts the attempt of each CONNECT and its failure, against its Engine.IO session. */
  ledger: Pick<ConnectionLedger, "attempted" | "failed">;
  logger: Logger;
  trustProxyHops: number;
  rateLimitEventsPerS: number;
  rateLimitBurst: number;
  isDraining(): boolean;
}

export type Middleware = (socket: GatewaySocket, next: (err?: Error) => void) => void;

export interface Admission {
  middleware: Middleware;
}

export function createAdmission(o: AdmissionOptions): Admission {
  const admit = async (socket: GatewaySocket): Promise<Session> => {
    if (o.isDraining()) throw new GatewayError("DRAINING", "this gateway is draining: reconnect to another one");
    const auth = authSchema.safeParse(socket.handshake.auth ?? {});
    if (!auth.success) throw new GatewayError("BAD_REQUEST", auth.error.issues[0]?.message ?? "invalid auth object");
    const identity = await o.verifier.verify(auth.data.token);
    await assertNotKicked(o.kicks, identity);
    // Nothing reads handshake.auth after this: drop the verified token (a credential, ~170 bytes a
    // connection) and whatever else the client put there (any size or depth, kept for the socket's life).
    socket.handshake.auth = {};
    const headers = socket.handshake.headers;
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
  };

  const middleware: Middleware = (socket, next) => {
    o.ledger.attempted(socket.conn);
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
        o.ledger.failed(socket.conn, reason);
        if (!(err instanceof GatewayError)) o.logger.error({ err }, "handshake failed unexpectedly");
        else o.logger.debug({ code: body.code, address: socket.handshake.address }, "handshake refused");
        // Closed first: the CONNECT_ERROR that next() then writes is dropped on a closing transport, and
        // socket.io-client, seeing only the transport close, reconnects with backoff.
        if (RETRY_BY_CLOSE.has(body.code)) socket.conn.close();
        const refusal = new Error(body.message) as Error & { data: unknown };
        refusal.data = body;
        next(refusal);
      },
    );
  };
  return { middleware };
}
