// Size and depth bounds of a message body (client `body`, backend API `data`), checked without recursion.
// Everything downstream (socket.io-parser's hasBinary, the msgpack encoder, JSON.stringify) recurses:
// a body that passes here is at most MAX_BODY_DEPTH levels deep, so none of them can overflow the stack.
import { GatewayError } from "../errors.js";

/** Deepest nesting of objects/arrays a body may have: `{}` is 1, `{ a: [] }` is 2. */
export const MAX_BODY_DEPTH = 32;

export interface BodyLimits {
  /** MAX_BODY_BYTES: JSON-serialised size in bytes, binary attachments counted at their byte length. */
  maxBodyBytes: number;
  maxDepth?: number;
}

export type BodyVerdict =
  { ok: true; bytes: number; depth: number } | { ok: false; reason: "too_large" | "too_deep" | "unsupported"; bytes: number; depth: number };

/**
 * Measures a body iteratively (explicit stack) and stops as soon as a bound is crossed, so the work
 * is at most proportional to the bound, whatever the input. Counts what JSON.stringify would write
 * (strings escaped, UTF-8 bytes); Buffers, ArrayBuffers and typed arrays count at their byte length.
 */
export function measureBody(body: unknown, limits: BodyLimits): BodyVerdict {
  const maxBytes = limits.maxBodyBytes;
  const maxDepth = limits.maxDepth ?? MAX_BODY_DEPTH;
  let bytes = 0;
  let deepest = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value: body, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (value === null || value === undefined || typeof value === "boolean") bytes += value === true ? 4 : value === false ? 5 : 4;
    else if (typeof value === "number") bytes += Number.isFinite(value) ? String(value).length : 4;
    else if (typeof value === "string") bytes += jsonStringBytes(value, maxBytes - bytes);
    else if (typeof value === "bigint" || typeof value === "function" || typeof value === "symbol")
      return { ok: false, reason: "unsupported", bytes, depth: deepest };
    else if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) bytes += value.byteLength;
    else {
      const level = depth + 1;
      if (level > deepest) deepest = level;
      if (level > maxDepth) return { ok: false, reason: "too_deep", bytes, depth: level };
      if (Array.isArray(value)) {
        bytes += 2 + Math.max(0, value.length - 1); // brackets and commas
        if (bytes > maxBytes) return { ok: false, reason: "too_large", bytes, depth: deepest };
        for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], depth: level });
      } else {
        const keys = Object.keys(value);
        bytes += 2 + Math.max(0, keys.length - 1);
        for (const key of keys) {
          bytes += jsonStringBytes(key, maxBytes - bytes) + 1; // "key":
          if (bytes > maxBytes) return { ok: false, reason: "too_large", bytes, depth: deepest };
          stack.push({ value: (value as Record<string, unknown>)[key], depth: level });
        }
      }
    }
    if (bytes > maxBytes) return { ok: false, reason: "too_large", bytes, depth: deepest };
  }
  return { ok: true, bytes, depth: deepest };
}

/** Throws BAD_REQUEST naming the bound; `field` is the payload key the client sees in the message. */
export function assertBodyWithinBounds(body: unknown, limits: BodyLimits, field = "body"): void {
  const verdict = measureBody(body, limits);
  if (verdict.ok) return;
  if (verdict.reason === "too_deep") throw new GatewayError("BAD_REQUEST", `${field}: nested deeper than ${limits.maxDepth ?? MAX_BODY_DEPTH} levels`);
  if (verdict.reason === "too_large") throw new GatewayError("BAD_REQUEST", `${field}: larger than ${limits.maxBodyBytes} bytes serialised (MAX_BODY_BYTES)`);
  throw new GatewayError("BAD_REQUEST", `${field}: only JSON values and binary attachments are allowed`);
}

/** UTF-8 bytes of JSON.stringify(s), stopping early once `budget` is spent (the caller then refuses). */
function jsonStringBytes(s: string, budget: number): number {
  // A string longer than the budget in UTF-16 units is over it in UTF-8 bytes too.
  if (s.length + 2 > budget) return s.length + 2;
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x0c || c === 0x0a || c === 0x0d || c === 0x09) n += 2;
    else if (c < 0x20) n += 6;
    else if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff)
      n += 6; // lone surrogate: JSON.stringify escapes it as a six-character \u escape
    else n += 3;
  }
  return n;
}
