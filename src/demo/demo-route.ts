// The demo page (DEMO=1 only): GET /demo serves one static HTML file that uses the Socket.IO client
// bundle the gateway itself serves at /socket.io/socket.io.js (serveClient follows config.demo).
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { HttpResponse, TemplatedApp } from "uWebSockets.js";

/** Beside this module: src/demo/ in tests, dist/demo/ once built (`npm run build` copies it). */
const PAGE = new URL("./demo.html", import.meta.url);

export function loadDemoPage(): string {
  const path = fileURLToPath(PAGE);
  if (!existsSync(path)) throw new Error(`DEMO=1 but ${path} is missing: run \`npm run build\` (it copies the page into dist/)`);
  return readFileSync(path, "utf8");
}

/** Signs a dev-mode token for a user id; present only when the gateway has no key material (dev mode). */
export type DevTokenIssuer = (userId: string) => Promise<string>;

/**
 * Serves the demo page, and in dev mode POST /demo/token: a token for a fresh `demo-<hex>` user, so each
 * tab is its own user after one click. Never registered with key material or NODE_ENV=production (the
 * caller passes no issuer then): a real deployment's identities come from its own token issuer only.
 */
export function registerDemo(app: TemplatedApp, issueDevToken?: DevTokenIssuer): void {
  const page = loadDemoPage();
  const serve = (res: HttpResponse) => {
    res.cork(() => {
      res.writeHeader("content-type", "text/html; charset=utf-8");
      res.writeHeader("cache-control", "no-store");
      // The page only talks to its own origin; no frames, no third-party scripts.
      res.writeHeader(
        "content-security-policy",
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
      );
      res.writeHeader("x-content-type-options", "nosniff");
      res.end(page);
    });
  };
  app.get("/demo", serve);
  app.get("/demo/", serve);
  if (issueDevToken) app.post("/demo/token", (res) => answerDevToken(res, issueDevToken));
}

function answerDevToken(res: HttpResponse, issue: DevTokenIssuer): void {
  let aborted = false;
  res.onAborted(() => (aborted = true));
  const userId = `demo-${randomBytes(4).toString("hex")}`;
  const send = (status: string, body: unknown) => {
    if (aborted) return;
    res.cork(() => res.writeStatus(status).writeHeader("content-type", "application/json").writeHeader("cache-control", "no-store").end(JSON.stringify(body)));
  };
  issue(userId).then(
    (token) => send("200 OK", { userId, token }),
    () => send("500 Internal Server Error", { error: { code: "INTERNAL", message: "could not sign a dev token" } }),
  );
}
