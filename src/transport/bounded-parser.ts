// The Socket.IO packet decoder the public server uses: socket.io-parser's, with three bounds added.
// - Binary attachments of one packet may total at most the body limit (MAX_BODY_BYTES): Engine.IO's
//   maxHttpBufferSize only sees each attachment as its own message, so 10 attachments carried 10x the
//   packet limit past it.
// - One Engine.IO session carries one Socket.IO CONNECT: a second one (50 CONNECTs on one WebSocket,
//   8,500 in one polling POST) would each start a handshake, a token check and a socket.
// - Placeholders of binary packets are put back without recursion (socket.io-parser recurses over the
//   attacker's nesting before any of our checks could run).
// Breaking a bound throws: socket.io closes that Engine.IO session (only the sender's connection).
// A binary packet declaring 0 attachments (`50-…`, `60-…`; no stock client sends one) is malformed:
// socket.io-parser's decodeString, reused below, refuses it, so it is never held waiting for a next frame
// (older socket.io-parser versions delivered it at once; tests/unit/bounded-parser.test.ts pins this).
import { Decoder, Encoder, PacketType, type Packet } from "socket.io-parser";

export interface ParserBounds {
  /** Largest total of binary attachments in one packet. */
  maxAttachmentBytes: number;
  /** Most binary attachments in one packet (socket.io-parser's own default is 10). */
  maxAttachments: number;
  /** Called when a bound cuts a session (for the metric), with the reason. */
  onViolation?(reason: ParserViolation): void;
}

export type ParserViolation = "attachments_too_large" | "second_connect";

export class ParserBoundError extends Error {
  constructor(readonly reason: ParserViolation) {
    super(reason === "second_connect" ? "one Socket.IO connection per Engine.IO session" : "binary attachments larger than the body limit");
    this.name = "ParserBoundError";
  }
}

interface PendingBinary {
  packet: Packet;
  buffers: unknown[];
  bytes: number;
}

/** What socket.io's `parser` option takes: a module with an Encoder and a Decoder it can `new` without arguments. */
export interface ParserModule {
  Encoder: typeof Encoder;
  Decoder: new () => Decoder;
}

export function boundedParser(bounds: ParserBounds): ParserModule {
  class BoundedDecoder extends Decoder {
    private pending: PendingBinary | undefined;
    private connects = 0;

    constructor() {
      super({ maxAttachments: bounds.maxAttachments });
    }

    override add(obj: unknown): void {
      if (typeof obj === "string") {
        if (this.pending) throw new Error("got plaintext data when reconstructing a packet");
        // decodeString is private in the typings only: reusing it keeps socket.io-parser's own header checks.
        const packet = (this as unknown as { decodeString(str: string): Packet }).decodeString(obj);
        if (packet.type === PacketType.CONNECT && ++this.connects > 1) return this.violation("second_connect");
        if (packet.type === PacketType.BINARY_EVENT || packet.type === PacketType.BINARY_ACK) {
          packet.type = packet.type === PacketType.BINARY_EVENT ? PacketType.EVENT : PacketType.ACK;
          this.pending = { packet, buffers: [], bytes: 0 };
          return;
        }
        this.emitReserved("decoded", packet);
        return;
      }
      const size = byteLength(obj);
      if (size === undefined) throw new Error("unknown data type in a Socket.IO packet");
      const pending = this.pending;
      if (!pending) throw new Error("got binary data when not reconstructing a packet");
      pending.bytes += size;
      if (pending.bytes > bounds.maxAttachmentBytes) {
        this.pending = undefined;
        return this.violation("attachments_too_large");
      }
      pending.buffers.push(obj);
      if (pending.buffers.length < (pending.packet.attachments ?? 0)) return;
      this.pending = undefined;
      const { packet, buffers } = pending;
      packet.data = reconstruct(packet.data, buffers);
      delete packet.attachments;
      this.emitReserved("decoded", packet);
    }

    override destroy(): void {
      this.pending = undefined;
      super.destroy();
    }

    private violation(reason: ParserViolation): never {
      bounds.onViolation?.(reason);
      throw new ParserBoundError(reason);
    }
  }
  return { Encoder, Decoder: BoundedDecoder };
}

function byteLength(obj: unknown): number | undefined {
  if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) return obj.byteLength;
  return undefined;
}

/** Replaces `{ _placeholder: true, num }` with its buffer, walking with an explicit stack. */
function reconstruct(data: unknown, buffers: readonly unknown[]): unknown {
  const resolve = (value: unknown): unknown => {
    if (value === null || typeof value !== "object" || (value as { _placeholder?: unknown })._placeholder !== true) return value;
    const num = (value as { num?: unknown }).num;
    if (typeof num !== "number" || !Number.isInteger(num) || num < 0 || num >= buffers.length) throw new Error("illegal attachments");
    return buffers[num];
  };
  const root = resolve(data);
  const stack: object[] = root !== null && typeof root === "object" && !ArrayBuffer.isView(root) ? [root] : [];
  while (stack.length > 0) {
    const node = stack.pop() as Record<string, unknown>;
    for (const key of Object.keys(node)) {
      const child = node[key];
      if (child === null || typeof child !== "object") continue;
      const resolved = resolve(child);
      if (resolved !== child) node[key] = resolved;
      else stack.push(child);
    }
  }
  return root;
}
