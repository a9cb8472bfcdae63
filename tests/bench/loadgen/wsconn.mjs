// A cheap WebSocket client: hand-written RFC 6455 framing over net.Socket, so one load-generator
// core can receive ~1M frames/s (the `ws` client tops out near 100k). Text frames are handed over
// as (buffer, start, end) without decoding; the caller decodes only what it needs.
import net from "node:net";

const KEY = "dGhlIHNhbXBsZSBub25jZQ=="; // any 16 bytes base64; the server's accept value is not checked
const CRLFCRLF = Buffer.from("\r\n\r\n");

/**
 * @typedef {object} WsHandlers
 * @property {(buf: Buffer, start: number, end: number) => void} onText
 * @property {(code: number) => void} [onClose]
 */

export class WsConn {
  /** @param {WsHandlers} handlers */
  constructor(handlers) {
    this.handlers = handlers;
    /** @type {net.Socket | null} */
    this.sock = null;
    this.pending = null;
    this.frag = null;
    this.open = false;
    this.closed = false;
  }

  /** Connects and upgrades; resolves once the 101 arrived. Bounded by timeoutMs. */
  connect(host, port, path, timeoutMs = 10_000, extraHeaders = "") {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port, noDelay: true });
      this.sock = sock;
      let head = Buffer.alloc(0);
      let upgraded = false;
      const timer = setTimeout(() => fail(new Error(`upgrade timed out after ${timeoutMs} ms`)), timeoutMs);
      const fail = (err) => {
        clearTimeout(timer);
        if (!upgraded) {
          sock.destroy();
          reject(err);
        }
      };
      sock.on("error", (err) => {
        if (!upgraded) fail(err);
        else this.#closed(1006);
      });
      sock.on("close", () => (upgraded ? this.#closed(1006) : fail(new Error("closed before upgrade"))));
      sock.on("data", (chunk) => {
        if (upgraded) return this.#onData(chunk);
        head = head.length ? Buffer.concat([head, chunk]) : chunk;
        const i = head.indexOf(CRLFCRLF);
        if (i < 0) {
          if (head.length > 16384) fail(new Error("oversized upgrade answer"));
          return;
        }
        const status = head.toString("latin1", 0, i);
        if (!status.startsWith("HTTP/1.1 101")) return fail(new Error(`upgrade refused: ${status.split("\r\n")[0]}`));
        upgraded = true;
        this.open = true;
        clearTimeout(timer);
        resolve(this);
        const rest = head.subarray(i + 4);
        if (rest.length) this.#onData(rest);
      });
      sock.write(
        `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`,
      );
    });
  }

  /** Sends one masked text frame. The mask key is 0 (legal, and the payload needs no XOR). */
  sendText(str) {
    if (!this.open) return false;
    const len = Buffer.byteLength(str);
    const hl = len < 126 ? 6 : len < 65536 ? 8 : 14;
    const frame = Buffer.allocUnsafe(hl + len);
    frame[0] = 0x81;
    if (len < 126) frame[1] = 0x80 | len;
    else if (len < 65536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(len, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeUInt32BE(0, 2);
      frame.writeUInt32BE(len, 6);
    }
    frame.writeUInt32BE(0, hl - 4);
    frame.write(str, hl);
    return this.sock.write(frame);
  }

  #control(opcode, payload) {
    if (!this.open) return;
    const frame = Buffer.alloc(6 + payload.length);
    frame[0] = 0x80 | opcode;
    frame[1] = 0x80 | payload.length;
    payload.copy(frame, 6);
    this.sock.write(frame);
  }

  /** Pauses reading (a slow consumer for the overload scenario) or resumes it. */
  setReading(on) {
    if (on) this.sock?.resume();
    else this.sock?.pause();
  }

  close() {
    if (!this.sock) return;
    if (this.open) {
      this.open = false;
      try {
        this.sock.end(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
      } catch {}
    }
    this.sock.destroySoon?.();
    setTimeout(() => this.sock.destroy(), 200).unref();
  }

  destroy() {
    this.open = false;
    this.sock?.destroy();
  }

  #closed(code) {
    if (this.closed) return;
    this.closed = true;
    this.open = false;
    this.handlers.onClose?.(code);
  }

  #onData(chunk) {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    const n = buf.length;
    let p = 0;
    while (n - p >= 2) {
      const b0 = buf[p];
      const b1 = buf[p + 1];
      let len = b1 & 0x7f;
      let hl = 2;
      if (len === 126) {
        if (n - p < 4) break;
        len = buf.readUInt16BE(p + 2);
        hl = 4;
      } else if (len === 127) {
        if (n - p < 10) break;
        len = buf.readUInt32BE(p + 2) * 4294967296 + buf.readUInt32BE(p + 6);
        hl = 10;
      }
      if (b1 & 0x80) hl += 4; // servers never mask; tolerate it anyway by skipping the key (payload stays masked)
      if (n - p < hl + len) break;
      const start = p + hl;
      const end = start + len;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 0x1 || opcode === 0x2) {
        if (fin) this.handlers.onText(buf, start, end);
        else this.frag = [Buffer.from(buf.subarray(start, end))];
      } else if (opcode === 0x0) {
        this.frag?.push(Buffer.from(buf.subarray(start, end)));
        if (fin && this.frag) {
          const whole = Buffer.concat(this.frag);
          this.frag = null;
          this.handlers.onText(whole, 0, whole.length);
        }
      } else if (opcode === 0x9) this.#control(0xa, buf.subarray(start, end));
      else if (opcode === 0x8) {
        const code = len >= 2 ? buf.readUInt16BE(start) : 1005;
        this.open = false;
        this.sock.destroy();
        this.#closed(code);
        return;
      }
      p = end;
    }
    if (p < n) this.pending = p === 0 ? buf : Buffer.from(buf.subarray(p));
  }
}
