// The public listener: a uWebSockets.js app with Socket.IO attached, plus its limits and its close.
import { Server } from "socket.io";
import type { GatewayConfig } from "../config.js";
import type { Logger } from "../ops/logger.js";
import type { GatewayMetrics } from "../ops/metrics.js";
import type { Uws } from "./uws-loader.js";

type App = ReturnType<Uws["App"]>;
type ListenSocket = Parameters<Uws["us_listen_socket_close"]>[0];

/** uWS send buffer past which it drops (publish) or refuses (send): set on purpose, watched by the slow-consumer watcher. */
export const MAX_BACKPRESSURE_FACTOR = 4;

export interface PublicServer {
  app: App;
  io: Server;
  listen(): Promise<number>;
  /** Closes the listen socket only: established connections stay (the drain closes them in batches). */
  closeListener(): void;
}

export function createPublicServer(uws: Uws, config: GatewayConfig, metrics: GatewayMetrics, logger: Logger): PublicServer {
  const app = uws.App();
  const maxBackpressure = config.slowConsumerBufferBytes * MAX_BACKPRESSURE_FACTOR;

  // engine.io passes only some uWS options through; close sockets that hit the hard limit instead of
  // letting uWS drop their messages silently (the watcher normally cuts them well before that).
  const ws = app.ws.bind(app);
  app.ws = ((pattern: string, behavior: Parameters<App["ws"]>[1]) =>
    ws(pattern, { ...behavior, maxBackpressure, closeOnBackpressureLimit: 1 } as Parameters<App["ws"]>[1])) as App["ws"];

  const io = new Server({
    path: "/socket.io",
    serveClient: config.demo,
    transports: ["polling", "websocket"],
    pingInterval: config.pingIntervalMs,
    pingTimeout: config.pingTimeoutMs,
    connectTimeout: config.connectTimeoutMs,
    maxHttpBufferSize: config.maxPayloadBytes,
    allowEIO3: false,
    cleanupEmptyChildNamespaces: true,
    allowRequest: (req, callback) => {
      const origin = req.headers.origin;
      if (origin && !originAllowed(origin, req.headers.host, config.corsOrigins)) {
        metrics.connectionFailures.inc({ reason: "cors" });
        return callback("origin not allowed", false);
      }
      callback(null, true);
    },
    cors: config.corsOrigins.length > 0 ? { origin: config.corsOrigins.includes("*") ? true : config.corsOrigins, credentials: true } : undefined,
  });
  io.attachApp(app, { maxBackpressure } as Parameters<Server["attachApp"]>[1]);
  io.engine.on("connection_error", (err: { code?: number; message?: string }) => {
    metrics.connectionFailures.inc({ reason: "transport_error" });
    logger.debug({ code: err.code, message: err.message }, "engine.io refused a request");
  });

  let listenSocket: ListenSocket | undefined;
  return {
    app,
    io,
    listen: () =>
      new Promise((resolve, reject) => {
        app.listen(config.host, config.port, (token) => {
          if (!token) return reject(new Error(`cannot listen on ${config.host}:${config.port} (in use or not permitted)`));
          listenSocket = token;
          resolve(uws.us_socket_local_port(token as never));
        });
      }),
    closeListener: () => {
      // io.close() does not close a uWS listener: only the listen token does.
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = undefined;
    },
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
