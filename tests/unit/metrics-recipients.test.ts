// messages_delivered_total counts each local recipient socket of a broadcast exactly once.
import { describe, expect, it } from "vitest";
import { countRecipients } from "../../src/delivery/recipient-count.js";

function adapter(rooms: Record<string, string[]>) {
  const r = new Map<string, Set<string>>();
  const sids = new Map<string, Set<string>>();
  for (const [room, members] of Object.entries(rooms))
    for (const sid of members) {
      if (!r.has(room)) r.set(room, new Set());
      r.get(room)!.add(sid);
      if (!sids.has(sid)) sids.set(sid, new Set());
      sids.get(sid)!.add(room);
    }
  return { rooms: r, sids };
}
const opts = (rooms: string[], except: string[] = []) => ({ rooms: new Set(rooms), except: new Set(except) });

// Every socket is also in its own room (its id), as in Socket.IO.
const a = adapter({ s1: ["s1"], s2: ["s2"], s3: ["s3"], s4: ["s4"], r1: ["s1", "s2", "s3"], r2: ["s2", "s3", "s4"], u1: ["s1"] });

describe("countRecipients", () => {
  it("one room, everyone, missing room", () => {
    expect(countRecipients(a, opts(["r1"]))).toBe(3);
    expect(countRecipients(a, opts([]))).toBe(4);
    expect(countRecipients(a, opts(["nope"]))).toBe(0);
  });

  it("socket.to(room): the sender is excluded only if it is in the room", () => {
    expect(countRecipients(a, opts(["r1"], ["s1"]))).toBe(2);
    expect(countRecipients(a, opts(["r1"], ["s4"]))).toBe(3);
    expect(countRecipients(a, opts([], ["s1", "s2"]))).toBe(2);
  });

  it("several rooms: a socket in two of them is counted once", () => {
    expect(countRecipients(a, opts(["r1", "r2"]))).toBe(4);
    expect(countRecipients(a, opts(["r1", "r2"], ["r1"]))).toBe(1);
    expect(countRecipients(a, opts(["u1", "r1"]))).toBe(3);
  });

  it("except by a room whose members overlap the target only partly", () => {
    expect(countRecipients(a, opts(["r1"], ["r2"]))).toBe(1);
  });
});
