// The operations listener (OPS_PORT): metrics, liveness, readiness. A separate node:http server,
// so closing the public uWS listener during a drain never hides these from Kubernetes or Prometheus.
import { createServer, type Server } from "node:http";
import type { GatewayMetrics } from "./metrics.js";

export interface Readiness {
  ready: boolean;
  /** Why not ready: draining, redis_unavailable, at_capacity. */
  reason?: string;
}

export interface OpsServer {
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
}

export function createOpsServer(metrics: GatewayMetrics, readiness: () => Readiness, onError: (err: unknown) => void): OpsServer {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD")
      return send(405, "application/json", JSON.stringify({ error: { code: "BAD_REQUEST", message: "only GET" } }));
    if (path === "/healthz") return send(200, "text/plain", "OK");
    if (path === "/readyz") {
      const r = readiness();
      return r.ready ? send(200, "text/plain", "READY") : send(503, "text/plain", `NOT READY: ${r.reason ?? "unknown"}`);
    }
    if (path === "/metrics") {
      metrics.render().then(
        ({ contentType, body }) => send(200, contentType, body),
        (err: unknown) => {
          onError(err);
          send(500, "text/plain", "metrics unavailable");
        },
      );
      return;
    }
    send(404, "application/json", JSON.stringify({ error: { code: "NOT_FOUND", message: "try /metrics, /healthz or /readyz" } }));
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return {
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          const addr = server.address();
          resolve(typeof addr === "object" && addr ? addr.port : port);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
