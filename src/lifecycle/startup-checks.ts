// Checks that must pass before the gateway takes traffic.
import type { GatewayConfig } from "../config.js";
import type { LoadedUws } from "../transport/uws-loader.js";

export class StartupError extends Error {
  override name = "StartupError";
}

export function checkUws(loaded: LoadedUws, config: GatewayConfig): void {
  if (loaded.native || config.allowUwsFallback) return;
  throw new StartupError(
    `uWebSockets.js native build unavailable (${loaded.detail}); the JavaScript fallback is an order of magnitude slower. ` +
      "Run on glibc Linux x64/arm64 with Node 22 or 24 on glibc >= 2.38 (the current build) or Node 20 (the legacy build), " +
      "or set ALLOW_UWS_FALLBACK=1 to start anyway.",
  );
}
