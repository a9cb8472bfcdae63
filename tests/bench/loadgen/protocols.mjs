// How the scenarios reach a stack: Socket.IO (Engine.IO v4 frames) or Pusher (Soketi).
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
    /** Pre-signs tokens so signing never counts inside a timed window. */
    prepare(from, n) {
      if (jwtSecret) for (let i = from; i < from + n; i++) authFor(i);
    },
    connect: (ep, i, h = {}) => openSio(ep.host ?? HOST, ep.port, authFor(i), { onEvent: h.onMessage, onClose: h.onClose }),
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
    close: (c) => c.close(),
  };
}
