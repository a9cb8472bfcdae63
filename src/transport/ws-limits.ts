// uWS WebSocket behaviour around engine.io's: backpressure hard limit, transport check on upgrade, close accounting.
import type { FailureReason } from "../ops/metrics.js";
import type { App } from "./public-server.js";

/**
 * uWS v20.30 typings declare closeOnBackpressureLimit a number, v20.5x a boolean; both native builds
 * read it as a truth value, so `true` compiles against either typing and means the same to both.
 */
const CLOSE_ON_BACKPRESSURE_LIMIT = true as boolean | number as NonNullable<Parameters<App["ws"]>[1]["closeOnBackpressureLimit"]>;
const WS_MESSAGE_TOO_BIG = 1009;
/** What uWS reports when it closes a socket itself (backpressure hard limit) or the peer vanished. */
const WS_ABNORMAL = 1006;
const UWS_TOO_BIG_TEXT = "Received too big message";

export interface WsCloseHooks {
  /** An upgrade refused before engine.io saw it (counted as an attempt that failed). */
  refused(reason: FailureReason): void;
  /** uWS cut this transport for a frame over maxPayloadLength (engine.io's session then counts the failure). */
  frameTooLarge(transport: object): void;
  /** uWS closed this transport at its backpressure hard limit (or the peer vanished). */
  abnormalClose(transport: object): void;
}

/** Wraps app.ws so that every WebSocket route engine.io registers gets these limits and this accounting. */
export function applyWsLimits(app: App, maxBackpressure: number, hooks: WsCloseHooks): void {
  // engine.io passes only some uWS options through; close sockets that hit the hard limit instead of
  // letting uWS drop their messages silently (the watcher normally cuts them well before that).
  const ws = app.ws.bind(app);
  // uWS cuts a connection whose frame exceeds maxPayloadLength (MAX_PAYLOAD_BYTES) from the frame header,
  // before buffering it (1006 "Received too big message"); engine.io only sees "transport close", so the
  // transport is marked here for the session's accounting.
  app.ws = ((pattern: string, behavior: Parameters<App["ws"]>[1]) =>
    ws(pattern, {
      ...behavior,
      maxBackpressure,
      closeOnBackpressureLimit: CLOSE_ON_BACKPRESSURE_LIMIT,
      // engine.io's uWS upgrade handler does not check the transport: an Upgrade request with
      // transport=polling starts a polling session, answers 200, then writes "101" on the ended response
      // and rejects (an unhandled rejection per request, for anyone who asks). Refuse it here instead.
      upgrade: (res, req, context) => {
        if (new URLSearchParams(req.getQuery() ?? "").get("transport") !== "websocket") {
          hooks.refused("transport_error");
          res.writeStatus("400 Bad Request").writeHeader("content-type", "application/json");
          res.end(JSON.stringify({ code: 3, message: "Bad request: a WebSocket upgrade needs transport=websocket" }));
          return;
        }
        void behavior.upgrade?.(res, req, context);
      },
      close: (socket, code, message) => {
        const tooBig = code === WS_MESSAGE_TOO_BIG || (code === WS_ABNORMAL && Buffer.from(message).toString() === UWS_TOO_BIG_TEXT);
        const transport = (socket.getUserData() as { transport?: object } | undefined)?.transport;
        if (tooBig && transport) hooks.frameTooLarge(transport);
        // uWS hit its hard limit before the watcher's grace ran out: still a slow-consumer cut.
        if (!tooBig && code === WS_ABNORMAL && transport) hooks.abnormalClose(transport);
        behavior.close?.(socket, code, message);
      },
    } as Parameters<App["ws"]>[1])) as App["ws"];
}
