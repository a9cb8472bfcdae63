// Engine.IO v4 / Socket.IO v5 over WsConn: "0{open}", "40{auth}" -> "40{sid}" | "44{error}",
// "42<ack>[event,...]", "43<ack>[answer]", ping "2" -> pong "3". Events are handed over raw
// (buffer, start, end) so the fan-out receivers decode only a timestamp.
import { createHmac } from "node:crypto";
import { WsConn } from "./wsconn.mjs";

const C_0 = 0x30, C_2 = 0x32, C_3 = 0x33, C_4 = 0x34;

export class SioClient {
  /**
   * @param {{ onEvent?: (buf: Buffer, start: number, end: number) => void, onClose?: (code: number) => void }} [handlers]
   *   onEvent receives the Socket.IO payload after "42" (a JSON array).
   */
  constructor(handlers = {}) {
    this.onEvent = handlers.onEvent ?? null;
    this.onCloseCb = handlers.onClose ?? null;
    this.acks = new Map();
    this.nextAck = 0;
    this.sid = null;
    this.connected = false;
    this.ws = new WsConn({ onText: (b, s, e) => this.#onText(b, s, e), onClose: (c) => this.#onClose(c) });
    this.waitOpen = null;
  }

  /** Upgrade, Engine.IO open, Socket.IO CONNECT with auth. Rejects on CONNECT_ERROR (with .data). */
  async connect(host, port, auth, timeoutMs = 10_000) {
    const opened = new Promise((resolve, reject) => (this.waitOpen = { resolve, reject }));
    opened.catch(() => {}); // may settle before it is awaited (timeout during the upgrade): handled below
    const timer = setTimeout(() => this.waitOpen?.reject(new Error("socket.io handshake timed out")), timeoutMs);
    try {
      await this.ws.connect(host, port, "/socket.io/?EIO=4&transport=websocket", timeoutMs);
      await opened;
    } catch (err) {
      this.ws.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return this;
  }

  #onText(buf, s, e) {
    const t = buf[s];
    if (t === C_4) {
      const k = buf[s + 1];
      if (k === C_2) {
        // EVENT: "42[...]" (the server never asks us for acks in these benches)
        if (this.onEvent) this.onEvent(buf, s + 2, e);
        return;
      }
      if (k === C_3) {
        let i = s + 2, id = 0;
        while (i < e && buf[i] >= 0x30 && buf[i] <= 0x39) id = id * 10 + (buf[i++] - 0x30);
        const cb = this.acks.get(id);
        if (cb) {
          this.acks.delete(id);
          cb(buf, i, e);
        }
        return;
      }
      if (k === C_0) {
        this.connected = true;
        const body = buf.toString("utf8", s + 2, e);
        this.sid = body ? JSON.parse(body).sid : null;
        this.waitOpen?.resolve();
        this.waitOpen = null;
        return;
      }
      if (k === 0x34) {
        const err = new Error("connect_error");
        try {
          err.data = JSON.parse(buf.toString("utf8", s + 2, e)).data;
        } catch {}
        this.waitOpen?.reject(err);
        this.waitOpen = null;
        return;
      }
      if (k === 0x31) this.connected = false; // DISCONNECT from the server
      return;
    }
    if (t === C_2) return void this.ws.sendText("3"); // ping -> pong
    if (t === C_0) {
      this.ws.sendText(this.pendingAuth);
      return;
    }
  }

  set auth(v) {
    this.pendingAuth = v === undefined ? "40" : "40" + JSON.stringify(v);
  }

  #onClose(code) {
    this.connected = false;
    this.waitOpen?.reject(new Error(`closed during handshake (${code})`));
    this.waitOpen = null;
    for (const cb of this.acks.values()) cb(null, 0, 0);
    this.acks.clear();
    this.onCloseCb?.(code);
  }

  /** Emits an event; with cb, asks for an ack: cb(buf, start, end) gets the ack array (buf null when closed). */
  emitRaw(json, cb) {
    if (!cb) return this.ws.sendText("42" + json);
    const id = this.nextAck++;
    this.acks.set(id, cb);
    return this.ws.sendText("42" + id + json);
  }

  /** Convenience for set-up paths: resolves the parsed first ack argument. */
  request(event, data, timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${event}: no ack within ${timeoutMs} ms`)), timeoutMs);
      this.emitRaw(JSON.stringify([event, data]), (buf, s, e) => {
        clearTimeout(timer);
        if (!buf) return reject(new Error(`${event}: connection closed`));
        resolve(JSON.parse(buf.toString("utf8", s, e))[0]);
      });
    });
  }

  close() {
    this.ws.close();
  }
  destroy() {
    this.ws.destroy();
  }
}

/** Opens a Socket.IO client with auth. */
export async function openSio(host, port, auth, handlers, timeoutMs) {
  const c = new SioClient(handlers);
  c.auth = auth;
  return c.connect(host, port, auth, timeoutMs);
}

const b64url = (b) => Buffer.from(b).toString("base64url");
/** HS256 JWT signed like an identity provider would (the load generator needs thousands, fast). */
export function signJwt(secret, sub, ttlS = 3600) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  // rooms ["*"]: the gateway requires the allow-list claim (a token without it joins no room).
  const body = b64url(JSON.stringify({ sub, iat: now, exp: now + ttlS, rooms: ["*"] }));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}
