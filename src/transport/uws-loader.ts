// Loads uWebSockets.js and tells whether the native binary is in use. The npm build we depend on
// silently swaps in a slow JavaScript server when its binary cannot load; we refuse that by default.
import { createRequire } from "node:module";
import type * as UWS from "uWebSockets.js";

export type Uws = typeof UWS;

export interface LoadedUws {
  uws: Uws;
  native: boolean;
  detail: string;
}

const require = createRequire(import.meta.url);

export function loadUws(): LoadedUws {
  const uws = require("uWebSockets.js") as Uws;
  // A native addon lands in require.cache under its .node file; the fallback is plain JavaScript.
  const binary = Object.keys(require.cache).find((p) => /uws_[a-z0-9]+_[a-z0-9]+_\d+\.node$/.test(p));
  const native = binary !== undefined && typeof (uws as unknown as { getParts?: unknown }).getParts === "function";
  const abi = `${process.platform}_${process.arch}_${process.versions.modules}`;
  return {
    uws,
    native,
    detail: native ? `native binary ${binary!.split("/").pop()}` : `no native binary for ${abi} (UWS_USE_FALLBACK=${process.env.UWS_USE_FALLBACK ?? "unset"})`,
  };
}
