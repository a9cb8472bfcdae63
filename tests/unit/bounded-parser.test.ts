// The bounded Socket.IO decoder on hand-made packets: a binary packet declaring 0 attachments is refused
// at once (never held until a next frame), complete binary packets are delivered, bounds are reported.
import { PacketType, type Packet } from "socket.io-parser";
import { describe, expect, it } from "vitest";
import { boundedParser, ParserBoundError, type ParserViolation } from "../../src/transport/bounded-parser.js";

function decoder() {
  const violations: ParserViolation[] = [];
  const { Decoder } = boundedParser({ maxAttachmentBytes: 100, maxAttachments: 10, onViolation: (r) => violations.push(r) });
  const d = new Decoder();
  const decoded: Packet[] = [];
  d.on("decoded", (p: Packet) => decoded.push(p));
  return { d, decoded, violations };
}

describe("bounded Socket.IO decoder", () => {
  for (const packet of ['50-["message:send",{"room":"x","body":"hi"}]', "60-7[]", '5-["message:send",{}]']) {
    it(`refuses ${packet} (a binary packet declaring no attachment) as malformed, holding nothing`, () => {
      const { d, decoded } = decoder();
      expect(() => d.add(packet)).toThrow(/attachments/i);
      expect(decoded).toEqual([]);
      // Nothing is pending: the next text packet decodes normally instead of being taken as plaintext-while-reconstructing.
      d.add("0");
      expect(decoded.map((p) => p.type)).toEqual([PacketType.CONNECT]);
    });
  }

  it("delivers a binary event once its declared attachment arrives, with the buffer in place", () => {
    const { d, decoded } = decoder();
    d.add('51-["upload",{"_placeholder":true,"num":0}]');
    expect(decoded).toEqual([]);
    d.add(Buffer.from("abc"));
    expect(decoded).toHaveLength(1);
    expect(decoded[0]!.type).toBe(PacketType.EVENT);
    expect(decoded[0]!.data).toEqual(["upload", Buffer.from("abc")]);
  });

  it("reports and throws on attachments over the byte bound and on a second CONNECT", () => {
    const big = decoder();
    big.d.add('52-["upload",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    big.d.add(Buffer.alloc(60));
    expect(() => big.d.add(Buffer.alloc(60))).toThrow(ParserBoundError);
    expect(big.violations).toEqual(["attachments_too_large"]);
    const twice = decoder();
    twice.d.add("0");
    expect(() => twice.d.add("0")).toThrow(ParserBoundError);
    expect(twice.violations).toEqual(["second_connect"]);
  });
});
