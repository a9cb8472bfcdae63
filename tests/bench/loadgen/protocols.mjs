// How the scenarios reach a stack: Socket.IO (Engine.IO v4 frames) or Pusher (Soketi).
import { PusherClient } from "./pusher.mjs";
import { openSio, signJwt } from "./sio.mjs";

const OK = Buffer.from('"ok":true');
const HOST = "127.0.0.1";

/**
 * @param {{ jwtSecret?: string }} opts  with a secret, every connection authenticates with its own JWT (sub = u<i>)
 */
export function socketIoProtocol({ jwtSecret } = {}) {
  const tokens = new Map();
  const authFor = (i) => {
    if (!jwtSecret) return undefined;
    let t = tokens.get(i);
    if (!t) tokens.set(i, (t = signJwt(jwtSecret, `u${i}`)));
    return { token: t };
  };
  return {
    name: "socket.io",
    hasAcks: true,
    /** Pre-signs tokens so signing never counts inside a timed window. */
    prepare(from, n) {
      if (jwtSecret) for (let i = from; i < from + n; i++) authFor(i);
    },
    connect: (ep, i, h = {}) => openSio(ep.host ?? HOST, ep.port, authFor(i), { onEvent: h.onMessage, onClose: h.onClose }),
    /** A delivered room message: '["message",' (presence and other events are not deliveries). */
    isMessage: (buf, s) => buf[s + 2] === 0x6d,
    join: async (c, room) => {
      const a = await c.request("room:join", { room });
      if (!a?.ok) throw new Error(`room:join refused: ${JSON.stringify(a)}`);
    },
    send: (c, kind, room, body, onAck) =>
      c.emitRaw(
        `["${kind === "all" ? "message:all" : "message:send"}",${JSON.stringify({ room, body })}]`,
        onAck ? (buf, s, e) => onAck(buf !== null && buf.indexOf(OK, s) >= 0 && buf.indexOf(OK, s) < e) : undefined,
      ),
    pause: (c) => c.ws.setReading(false),
    resume: (c) => c.ws.setReading(true),
    close: (c) => c.close(),
  };
}

/**
 * Pusher protocol (Soketi): rooms are private channels `private-<room>`, a message is a client event
 * (sender excluded by the protocol). No acks exist in Pusher: sends count as acknowledged when written.
 */
export function pusherProtocol({ appKey, appSecret }) {
  return {
    name: "pusher",
    hasAcks: false,
    connect: (ep, _i, h = {}) => new PusherClient({ onEvent: h.onMessage, onClose: h.onClose }).connect(ep.host ?? HOST, ep.port, appKey),
    isMessage: () => true, // PusherClient hands over client events only
    join: (c, room) => c.subscribe(`private-${room}`, appKey, appSecret),
    send: (c, kind, room, body, onAck) => {
      if (kind !== "except") throw new Error("pusher: client events always exclude the sender");
      c.ws.sendText(`{"event":"client-message","channel":"private-${room}","data":${JSON.stringify({ body })}}`);
      onAck?.(true);
    },
    pause: (c) => c.ws.setReading(false),
    resume: (c) => c.ws.setReading(true),
    close: (c) => c.close(),
  };
}
