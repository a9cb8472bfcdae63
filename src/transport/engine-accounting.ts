// Engine.IO-level accounting: refusals before Socket.IO's handshake and sessions abandoned before CONNECT.
import type { Logger } from "../ops/logger.js";
import type { GatewayMetrics } from "../ops/metrics.js";
import type { GatewayServer } from "../protocol/session.js";

const ENGINE_FORBIDDEN = 4;

/** Counts engine.io's own refusals (bad transport, bad session id, ...) and sessions that never sent CONNECT. */
export function countEngineRefusals(io: GatewayServer, metrics: GatewayMetrics, logger: Logger): void {
  io.engine.on("connection_error", (err: { code?: number; message?: string }) => {
    // FORBIDDEN comes only from allowRequest (public-server.ts), which already counted it as "cors".
    if (err.code !== ENGINE_FORBIDDEN) {
      metrics.connectionAttempts.inc();
      metrics.connectionFailures.inc({ reason: "transport_error" });
    }
    logger.debug({ code: err.code, message: err.message }, "engine.io refused a request");
  });

  io.engine.on("connection", (conn: EngineConn) => countAbandonedHandshake(conn, metrics));
}

interface EngineConn {
  on(event: "data", fn: (data: unknown) => void): unknown;
  off(event: "data", fn: (data: unknown) => void): unknown;
  once(event: "close", fn: (reason: string, description?: unknown) => void): unknown;
}

/**
 * Counts Engine.IO sessions the server had to close before they ever sent a Socket.IO CONNECT
 * (idle sockets past CONNECT_TIMEOUT_MS, half-open polling sessions past the ping timeout) as
 * "handshake_timeout", and polling bodies over MAX_PAYLOAD_BYTES as "payload_too_large".
 */
function countAbandonedHandshake(conn: EngineConn, metrics: GatewayMetrics): void {
  let sentConnect = false;
  const onData = (data: unknown) => {
    // Socket.IO CONNECT is packet type 0; the first message decides, then this listener goes.
    sentConnect = typeof data === "string" && data.startsWith("0");
    conn.off("data", onData);
  };
  conn.on("data", onData);
  conn.once("close", (reason, description) => {
    conn.off("data", onData);
    // A session that never sent CONNECT never reached admission, which counts attempts: count it here,
    // so the alert's failures / attempts ratio stays a ratio of the same population.
    if (reason === "transport error" && description instanceof Error && description.message === "payload too large") {
      if (!sentConnect) metrics.connectionAttempts.inc();
      metrics.connectionFailures.inc({ reason: "payload_too_large" });
    } else if (!sentConnect && (reason === "forced close" || reason === "ping timeout")) {
      metrics.connectionAttempts.inc();
      metrics.connectionFailures.inc({ reason: "handshake_timeout" });
    }
  });
}
