// Pusher protocol v7 over WsConn, for Soketi (the nearest peer): connect to /app/<key>, wait for
// pusher:connection_established (socket_id), subscribe to private channels with an HMAC-SHA256
// channel signature (what a Pusher auth endpoint returns), publish with client events ("client-*",
// relayed to every other subscriber: sender excluded, like socket.to(room)), pusher:ping -> pong.
import { createHmac } from "node:crypto";
import { WsConn } from "./wsconn.mjs";

const PREFIX = Buffer.from('{"event":"');

export class PusherClient {
  /** @param {{ onEvent?: (buf: Buffer, start: number, end: number) => void, onClose?: (code: number) => void }} [handlers] */
  constructor(handlers = {}) {
    this.onEvent = handlers.onEvent ?? null;
    this.onCloseCb = handlers.onClose ?? null;
    this.socketId = null;
    this.connected = false;
    this.waiters = new Map(); // "event|channel" -> {resolve, reject}
    this.ws = new WsConn({ onText: (b, s, e) => this.#onText(b, s, e), onClose: (c) => this.#onClose(c) });
  }

  async connect(host, port, appKey, timeoutMs = 10_000) {
    const established = this.#wait("pusher:connection_established", "", timeoutMs);
    try {
      await this.ws.connect(host, port, `/app/${appKey}?protocol=7&client=js&version=8.4.0&flash=false`, timeoutMs);
      const data = await established;
      this.socketId = JSON.parse(data).socket_id;
      this.connected = true;
    } catch (err) {
      this.ws.destroy();
      throw err;
    }
    return this;
  }

  #wait(event, channel, timeoutMs) {
    return new Promise((resolve, reject) => {
      const key = `${event}|${channel}`;
      const timer = setTimeout(() => (this.waiters.delete(key), reject(new Error(`${event}: no answer within ${timeoutMs} ms`))), timeoutMs);
      this.waiters.set(key, { resolve: (v) => (clearTimeout(timer), resolve(v)), reject: (e) => (clearTimeout(timer), reject(e)) });
    });
  }

  #onText(buf, s, e) {
    // Client events are the hot path: '{"event":"client-...' handed over raw, without parsing.
    if (buf[s + 10] === 0x63 && buf[s + 11] === 0x6c && buf.compare(PREFIX, 0, PREFIX.length, s, s + PREFIX.length) === 0) {
      if (this.onEvent) this.onEvent(buf, s, e);
      return;
    }
    let msg;
    try {
      msg = JSON.parse(buf.toString("utf8", s, e));
    } catch {
      return;
    }
    if (msg.event === "pusher:ping") return void this.ws.sendText('{"event":"pusher:pong","data":{}}');
    if (msg.event === "pusher:error") {
      for (const w of this.waiters.values()) w.reject(new Error(`pusher:error ${JSON.stringify(msg.data)}`));
      this.waiters.clear();
      return;
    }
    const key = `${msg.event}|${msg.channel ?? ""}`;
    const w = this.waiters.get(key);
    if (w) {
      this.waiters.delete(key);
      w.resolve(msg.data);
    }
  }

  #onClose(code) {
    this.connected = false;
    for (const w of this.waiters.values()) w.reject(new Error(`closed (${code})`));
    this.waiters.clear();
    this.onCloseCb?.(code);
  }

  /** Subscribes to a private channel, signing like a Pusher auth endpoint would. */
  subscribe(channel, appKey, appSecret, timeoutMs = 10_000) {
    const sig = createHmac("sha256", appSecret).update(`${this.socketId}:${channel}`).digest("hex");
    const done = this.#wait("pusher_internal:subscription_succeeded", channel, timeoutMs);
    this.ws.sendText(JSON.stringify({ event: "pusher:subscribe", data: { channel, auth: `${appKey}:${sig}` } }));
    return done;
  }

  close() {
    this.ws.close();
  }
}
