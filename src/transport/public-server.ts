// The public listener: a uWebSockets.js app with Socket.IO attached, plus its limits and its close.
import { Server } from "socket.io";
import type { ClientToServerEvents, GatewayServer, InterServerEvents, ServerToClientEvents, Session } from "../protocol/session.js";
import type { GatewayConfig } from "../config.js";
import type { Logger } from "../ops/logger.js";
import type { GatewayMetrics } from "../ops/metrics.js";
import type { Uws } from "./uws-loader.js";
import { ConnectionAccounting, type ConnectionLedger } from "./engine-accounting.js";
import { Backpressure } from "./slow-consumer-watcher.js";
import { boundedParser } from "./bounded-parser.js";
import { applyWsLimits } from "./ws-limits.js";
import { REASON, REFUSALS, refusalOf, type RetryableRefusal, type SessionGate } from "../auth/session-gate.js";

export type App = ReturnType<Uws["App"]>;
type ListenSocket = Parameters<Uws["us_listen_socket_close"]>[0];

/** uWS send buffer past which it drops (publish) or refuses (send): set on purpose, watched by the slow-consumer watcher. */
export const MAX_BACKPRESSURE_FACTOR = 16;

export interface PublicServer {
  app: App;
  io: GatewayServer;
  /** Slow-consumer cuts of this server (start it once the gateway is wired). */
  backpressure: Backpressure;
  listen(): Promise<number>;
  /** Closes the listen socket only: established connections stay (the drain closes them in batches). */
  closeListener(): void;
  /**
   * From now on, refuse new Engine.IO sessions at the transport level. socket.io-client retries a
   * transport-level refusal with backoff, but treats a middleware refusal (connect_error with data) as
   * final: a client whose reconnect reached this draining pod over a kept-alive HTTP connection would
   * otherwise stay disconnected for good.
   */
  refuseNewSessions(): void;
  /** Installs the admission check of new Engine.IO sessions (capacity, per-address rate). */
  admitSessions(gate: SessionGate): void;
  /** Where every connection attempt and failure of this server is counted (admission counts there too). */
  ledger: ConnectionLedger;
}

export function createPublicServer(uws: Uws, config: GatewayConfig, metrics: GatewayMetrics, logger: Logger): PublicServer {
  const app = uws.App();
  const maxBackpressure = config.slowConsumerBufferBytes * MAX_BACKPRESSURE_FACTOR;
  let refusing = false;
  let gate: SessionGate | undefined;
  const accounting = new ConnectionAccounting(metrics);

  // Created below, after the server it watches; uWS only closes sockets once they exist.
  // eslint-disable-next-line prefer-const -- assigned once below, after the server it watches exists; read later by the close hook
  let backpressure: Backpressure | undefined;
  applyWsLimits(app, maxBackpressure, {
    refused: (reason) => accounting.refused(reason),
    frameTooLarge: (transport) => accounting.frameTooLarge(transport),
    abnormalClose: (transport) => backpressure?.closedByUws(transport),
  });

  const io: GatewayServer = new Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, Session>({
    path: "/socket.io",
    serveClient: config.demo,
    transports: ["polling", "websocket"],
    pingInterval: config.pingIntervalMs,
    pingTimeout: config.pingTimeoutMs,
    connectTimeout: config.connectTimeoutMs,
    maxHttpBufferSize: config.maxPayloadBytes,
    // maxHttpBufferSize bounds each Engine.IO message, and every binary attachment is its own message:
    // the parser bounds their total per packet, and allows one CONNECT per Engine.IO session.
    parser: boundedParser({
      maxAttachmentBytes: config.maxBodyBytes,
      maxAttachments: MAX_ATTACHMENTS,
      onViolation: (reason) => accounting.parserViolation(reason),
    }),
    allowEIO3: false,
    cleanupEmptyChildNamespaces: true,
    allowRequest: (req, callback) => {
      const origin = req.headers.origin;
      if (origin && !originAllowed(origin, req.headers.host, config.corsOrigins)) {
        accounting.refused("cors");
        return callback("origin not allowed", false);
      }
      let refusal: RetryableRefusal | undefined;
      if (refusing) {
        accounting.refused(REASON.DRAINING);
        refusal = REFUSALS.DRAINING;
      } else refusal = gate?.admit({ headers: req.headers, remoteAddress: req.connection?.remoteAddress ?? "" });
      // The message carries the refusal to abortRequest below, which answers it as a retryable HTTP status.
      if (refusal) return callback(refusal.message, false);
      callback(null, true);
    },
    cors: config.corsOrigins.length > 0 ? { origin: config.corsOrigins.includes("*") ? true : config.corsOrigins, credentials: true } : undefined,
  });
  io.attachApp(app, { maxBackpressure } as Parameters<Server["attachApp"]>[1]);
  answerRetryableRefusals(io);
  backpressure = new Backpressure(
    io,
    { limitBytes: config.slowConsumerBufferBytes, graceMs: config.slowConsumerGraceMs, hardLimitBytes: maxBackpressure },
    metrics,
    logger,
  );
  // engine.io answers other methods on a live polling session with a bare 500 (and HEAD with a body):
  // a client error, so answer it as one. Method routes take priority over engine.io's app.any.
  for (const method of ["put", "del", "patch", "head"] as const) {
    app[method]("/socket.io/", (res) => {
      res.writeStatus("405 Method Not Allowed").writeHeader("allow", "GET, POST, OPTIONS").writeHeader("content-type", "application/json");
      if (method === "head") res.endWithoutBody();
      else res.end(JSON.stringify({ error: { code: "BAD_REQUEST", message: "method not allowed on /socket.io/" } }));
    });
  }
  accounting.watch(io, logger);
  // engine.io counted the session: the gate's reservation for its handshake ends.
  io.engine.on("connection", () => gate?.opened());

  let listenSocket: ListenSocket | undefined;
  return {
    app,
    io,
    backpressure,
    ledger: accounting,
    listen: () =>
      new Promise((resolve, reject) => {
        app.listen(config.host, config.port, (token) => {
          if (!token) return reject(new Error(`cannot listen on ${config.host}:${config.port} (in use or not permitted)`));
          listenSocket = token;
          resolve(uws.us_socket_local_port(token as never));
        });
      }),
    refuseNewSessions: () => {
      refusing = true;
    },
    admitSessions: (g) => {
      gate = g;
    },
    closeListener: () => {
      // io.close() does not close a uWS listener: only the listen token does.
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = undefined;
    },
  };
}

/** Binary attachments one packet may carry (socket.io-parser's default); their total is bounded by MAX_BODY_BYTES. */
const MAX_ATTACHMENTS = 10;

type UwsResponse = { writeStatus(s: string): UwsResponse; writeHeader(k: string, v: string): UwsResponse; end(body: string): unknown };
interface AbortingEngine {
  abortRequest(res: UwsResponse, code: number, context?: { message?: unknown }): void;
}

/**
 * engine.io answers every allowRequest refusal with 403. Capacity, draining and rate refusals are
 * "try again": answered 503 / 429 with Retry-After, and `{ code, message }` with our stable code.
 * Both the polling handshake and the WebSocket upgrade go through abortRequest on the uWS server.
 */
function answerRetryableRefusals(io: Server): void {
  const engine = io.engine as unknown as AbortingEngine;
  const original = engine.abortRequest.bind(engine);
  engine.abortRequest = (res, code, context) => {
    const refusal = refusalOf(context?.message);
    if (!refusal) return original(res, code, context);
    res.writeStatus(refusal.status).writeHeader("content-type", "application/json").writeHeader("retry-after", "1");
    res.end(JSON.stringify({ code: refusal.code, message: refusal.message }));
  };
}

/** Browsers always send Origin on WebSocket and cross-site requests: same origin or the allow-list. */
export function originAllowed(origin: string, host: string | undefined, allowed: readonly string[]): boolean {
  if (allowed.includes("*") || allowed.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}
