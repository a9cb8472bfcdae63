// The resync starts from the last position delivered without a hole; a position first set during an
// interruption is not trusted.
import { describe, expect, it } from "vitest";
import { DeliveredPositions } from "../../src/delivery/delivered-positions.js";

const msg = (room: string, seq: number, epoch = "e1") =>
  [
    { type: 2, data: ["message", { id: `${room}:${epoch}:${seq}`, seq, epoch }] },
    { rooms: new Set([room]), except: new Set<string>() },
  ] as const;
const positionOf = (p: DeliveredPositions, room: string, notBefore?: number) => new Map(p.rooms(notBefore)).get(room)?.position;

describe("DeliveredPositions", () => {
  it("moves only over contiguous seqs; out-of-order arrivals fill in; a hole holds the position", () => {
    const p = new DeliveredPositions();
    p.track("r");
    for (const seq of [1, 2, 4, 5]) p.observe(...msg("r", seq));
    expect(positionOf(p, "r")).toEqual({ epoch: "e1", seq: 2 });
    p.observe(...msg("r", 3));
    expect(positionOf(p, "r")).toEqual({ epoch: "e1", seq: 5 });
    p.observe(...msg("r", 7));
    expect(positionOf(p, "r")).toEqual({ epoch: "e1", seq: 5 });
    p.replayed("r", { epoch: "e1", seq: 6 });
    expect(positionOf(p, "r")).toEqual({ epoch: "e1", seq: 7 });
  });

  it("a new epoch restarts the position; untracked rooms and other events are ignored", () => {
    const p = new DeliveredPositions();
    p.track("r");
    p.observe(...msg("r", 9));
    p.observe(...msg("r", 1, "e2"));
    expect(positionOf(p, "r")).toEqual({ epoch: "e2", seq: 1 });
    p.observe(...msg("other", 1));
    expect(positionOf(p, "other")).toBeUndefined();
    expect(p.observe({ type: 2, data: ["typing", { seq: 3 }] }, { rooms: new Set(["r"]), except: new Set() })).toBe(false);
    expect(positionOf(p, "r")).toEqual({ epoch: "e2", seq: 1 });
    p.forget("r");
    expect(positionOf(p, "r")).toBeUndefined();
  });

  it("a position first set after the interruption began is not trusted (messages before it may be lost)", () => {
    const p = new DeliveredPositions();
    p.track("r");
    const before = Date.now();
    p.observe(...msg("r", 5));
    expect(positionOf(p, "r", before)).toBeUndefined();
    expect(positionOf(p, "r", Date.now() + 1)).toEqual({ epoch: "e1", seq: 5 });
    p.replayed("r", { epoch: "e1", seq: 6 });
    expect(positionOf(p, "r", before)).toEqual({ epoch: "e1", seq: 6 });
  });
});
