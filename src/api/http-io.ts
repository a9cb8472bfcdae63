// uWS HTTP plumbing for the backend API: bounded body reading and JSON answers.
// uWS requires onAborted before any async work and cork() around late writes.
import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import type { ErrorBody } from "../errors.js";

const STATUS_TEXT: Record<number, string> = {
  200: "200 OK",
  400: "400 Bad Request",
  401: "401 Unauthorized",
  403: "403 Forbidden",
  404: "404 Not Found",
  405: "405 Method Not Allowed",
  413: "413 Payload Too Large",
  415: "415 Unsupported Media Type",
  503: "503 Service Unavailable",
};

export interface ResponseState {
  aborted: boolean;
  done: boolean;
  /** HEAD request: answers carry no body (uWS would send one, desynchronising keep-alive clients). */
  head?: boolean;
  /** Called once with the status sent, or 0 when the client went away first (tracing ends its span here). */
  onDone?: (status: number) => void;
}

export function trackResponse(res: HttpResponse, req?: HttpRequest): ResponseState {
  const state: ResponseState = { aborted: false, done: false, head: req?.getMethod().toLowerCase() === "head" };
  res.onAborted(() => {
    state.aborted = true;
    if (!state.done) state.onDone?.(0);
  });
  return state;
}

export function sendJson(res: HttpResponse, state: ResponseState, status: number, body: unknown, closeConnection = false): void {
  if (state.aborted || state.done) return;
  state.done = true;
  state.onDone?.(status);
  res.cork(() => {
    res.writeStatus(STATUS_TEXT[status] ?? `${status} Error`);
    res.writeHeader("content-type", "application/json");
    res.writeHeader("cache-control", "no-store");
    if (closeConnection) res.writeHeader("connection", "close");
    if (state.head) res.endWithoutBody(undefined, closeConnection);
    else res.end(JSON.stringify(body), closeConnection);
  });
}

export const sendError = (res: HttpResponse, state: ResponseState, status: number, error: ErrorBody, closeConnection = false): void =>
  sendJson(res, state, status, { error }, closeConnection);

export type BodyResult = { ok: true; body: Buffer } | { ok: false; tooLarge: true };

/**
 * Reads the request body up to `limit` bytes. Past it, stops buffering at once and reports tooLarge,
 * so the caller answers 413 and closes instead of holding an attacker's upload in memory.
 */
export function readBody(res: HttpResponse, state: ResponseState, limit: number, declaredLength: number | undefined): Promise<BodyResult> {
  return new Promise((resolve) => {
    if (declaredLength !== undefined && declaredLength > limit) return resolve({ ok: false, tooLarge: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    res.onData((chunk, isLast) => {
      if (finished || state.aborted) return;
      size += chunk.byteLength;
      if (size > limit) {
        finished = true;
        return resolve({ ok: false, tooLarge: true });
      }
      // uWS reuses the chunk's memory after this callback: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk.slice(0))));
      if (isLast) {
        finished = true;
        resolve({ ok: true, body: Buffer.concat(chunks) });
      }
    });
  });
}
