import { describe, expect, it } from "vitest";
import { isRoomAllowed } from "../../src/auth/room-access.js";
import { planCloses } from "../../src/lifecycle/drain.js";
import { TokenBucket } from "../../src/protocol/token-bucket.js";
import { clientAddress, normaliseAddress } from "../../src/transport/client-address.js";
import { originAllowed } from "../../src/transport/public-server.js";
import { toErrorBody, GatewayError } from "../../src/errors.js";
import { ApiKeys } from "../../src/api/api-keys.js";

describe("room allow-list", () => {
  it("matches exact names and prefix patterns only", () => {
    const id = { userId: "u", rooms: ["conv:42", "team:7:*"] };
    expect(isRoomAllowed(id, "conv:42")).toBe(true);
    expect(isRoomAllowed(id, "conv:420")).toBe(false);
    expect(isRoomAllowed(id, "team:7:general")).toBe(true);
    expect(isRoomAllowed(id, "team:70:general")).toBe(false);
    expect(isRoomAllowed({ userId: "u", rooms: [] }, "conv:42")).toBe(false);
    // A token without a rooms claim (and no ROOMS_CLAIM_DEFAULT) carries rooms: [] and joins nothing.
    expect(isRoomAllowed({ userId: "u", rooms: ["*"] }, "anything")).toBe(true);
  });
});

describe("token bucket", () => {
  it("allows the burst, then the rate", () => {
    let t = 0;
    const b = new TokenBucket(10, 5, () => t);
    expect(Array.from({ length: 7 }, () => b.take())).toEqual([true, true, true, true, true, false, false]);
    t += 100;
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
    t += 10_000;
    expect(Array.from({ length: 6 }, () => b.take()).filter(Boolean)).toHaveLength(5);
  });
});

describe("client address", () => {
  it("normalises IPv6-mapped IPv4 as uWS reports it", () => {
    expect(normaliseAddress("0000:0000:0000:0000:0000:ffff:7f00:0001")).toBe("127.0.0.1");
    expect(normaliseAddress("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(normaliseAddress("2001:db8::1")).toBe("2001:db8::1");
  });
  it("trusts exactly TRUST_PROXY_HOPS entries of X-Forwarded-For", () => {
    expect(clientAddress("10.0.0.9", "6.6.6.6, 1.2.3.4", 0)).toBe("10.0.0.9");
    expect(clientAddress("10.0.0.9", "6.6.6.6, 1.2.3.4", 1)).toBe("1.2.3.4");
    expect(clientAddress("10.0.0.9", "6.6.6.6, 1.2.3.4", 2)).toBe("6.6.6.6");
    expect(clientAddress("10.0.0.9", "1.2.3.4", 5)).toBe("1.2.3.4");
    expect(clientAddress("10.0.0.9", undefined, 1)).toBe("10.0.0.9");
  });
});

describe("drain plan", () => {
  it("spreads closes over the window without leaving it", () => {
    const { offsets } = planCloses(1000, 20_000, () => Math.random());
    expect(offsets).toHaveLength(1000);
    expect(Math.min(...offsets)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...offsets)).toBeLessThanOrEqual(20_000);
    const perSecond = new Array(20).fill(0);
    for (const o of offsets) perSecond[Math.min(19, Math.floor(o / 1000))]++;
    // Spread, not a spike: every second of the window closes roughly 1/20 of the sockets.
    for (const n of perSecond) expect(n).toBeGreaterThan(30);
    expect(planCloses(0, 1000).offsets).toEqual([]);
  });
});

describe("origins", () => {
  it("allows same origin, the allow-list and *; refuses others and garbage", () => {
    expect(originAllowed("http://gw.example:3000", "gw.example:3000", [])).toBe(true);
    expect(originAllowed("https://evil.example", "gw.example:3000", [])).toBe(false);
    expect(originAllowed("https://app.example", "gw.example", ["https://app.example"])).toBe(true);
    expect(originAllowed("https://x.example", "gw.example", ["*"])).toBe(true);
    expect(originAllowed("null", "gw.example", [])).toBe(false);
    expect(originAllowed("%%%", undefined, [])).toBe(false);
  });
});

describe("errors", () => {
  it("never leaks internal messages", () => {
    expect(toErrorBody(new Error("ECONNREFUSED 10.0.0.3:6379 at Redis.connect"))).toEqual({
      code: "INTERNAL",
      message: "internal error, the request was not processed",
    });
    expect(toErrorBody(new GatewayError("FORBIDDEN", "no"))).toEqual({ code: "FORBIDDEN", message: "no" });
    expect(toErrorBody("string thrown")).toMatchObject({ code: "INTERNAL" });
  });
});

describe("API keys", () => {
  it("accepts only a configured key as a Bearer token", () => {
    const keys = new ApiKeys(["key-one-0123456789abcdef", "key-two-0123456789abcdef"]);
    expect(keys.check("Bearer key-two-0123456789abcdef")).toBe(true);
    expect(keys.check("Bearer key-two-0123456789abcdeX")).toBe(false);
    expect(keys.check("key-two-0123456789abcdef")).toBe(false);
    expect(keys.check("Bearer ")).toBe(false);
    expect(keys.check("Basic a2V5")).toBe(false);
    expect(keys.check(`Bearer ${"k".repeat(10_000)}`)).toBe(false);
    expect(new ApiKeys([]).enabled).toBe(false);
  });
});

describe("client event table", () => {
  it("has exactly the events of CLIENT_EVENTS, each filed under its own name", async () => {
    const { CLIENT_EVENTS } = await import("../../src/protocol/event-names.js");
    const { clientEvents } = await import("../../src/protocol/index.js");
    expect([...clientEvents().keys()].sort()).toEqual([...CLIENT_EVENTS].sort());
  });
});
