// The demo page (DEMO=1 only): GET /demo serves one static HTML file that uses the Socket.IO client
// bundle the gateway itself serves at /socket.io/socket.io.js (serveClient follows config.demo).
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { TemplatedApp } from "uWebSockets.js";

/** Beside this module: src/demo/ in tests, dist/demo/ once built (`npm run build` copies it). */
const PAGE = new URL("./demo.html", import.meta.url);

export function loadDemoPage(): string {
  const path = fileURLToPath(PAGE);
  if (!existsSync(path)) throw new Error(`DEMO=1 but ${path} is missing: run \`npm run build\` (it copies the page into dist/)`);
  return readFileSync(path, "utf8");
}

export function registerDemo(app: TemplatedApp): void {
  const page = loadDemoPage();
  const serve = (res: import("uWebSockets.js").HttpResponse) => {
    res.cork(() => {
      res.writeHeader("content-type", "text/html; charset=utf-8");
      res.writeHeader("cache-control", "no-store");
      // The page only talks to its own origin; no frames, no third-party scripts.
      res.writeHeader("content-security-policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'");
      res.writeHeader("x-content-type-options", "nosniff");
      res.end(page);
    });
  };
  app.get("/demo", serve);
  app.get("/demo/", serve);
}
