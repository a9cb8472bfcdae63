// HTTP routes of the public listener besides Socket.IO: the balancer's /health, the backend API, the demo, 404.
import { ApiKeys } from "../api/api-keys.js";
import { registerBackendApi } from "../api/backend-api.js";
import { registerDemo } from "../demo/demo-route.js";
import type { GatewayContext } from "../protocol/context.js";
import type { PublicServer } from "./public-server.js";

export function registerPublicRoutes(app: PublicServer["app"], ctx: GatewayContext, issueDemoToken?: Parameters<typeof registerDemo>[1]): void {
  app.get("/health", (res) => {
    res.writeHeader("content-type", "text/plain").end("OK");
  });
  registerBackendApi(app, ctx, new ApiKeys(ctx.config.apiKeys));
  if (ctx.config.demo) registerDemo(app, issueDemoToken);
  // Registered last: uWS matches specific routes (and engine.io's /socket.io/) before this catch-all.
  app.any("/*", (res, req) => {
    res.writeStatus("404 Not Found").writeHeader("content-type", "application/json");
    // A HEAD answer has no body: uWS would send one and desynchronise keep-alive clients and proxies.
    if (req.getMethod().toLowerCase() === "head") res.endWithoutBody();
    else res.end(JSON.stringify({ error: { code: "NOT_FOUND", message: "not found" } }));
  });
}
