// The expiry timer of one socket (phases, re-arming, far deadlines) and the kick rule on iat, on a fake clock.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { assertNotKicked } from "../../src/auth/kicks.js";
import { TokenExpiry } from "../../src/auth/token-expiry.js";
import { MemoryKicks } from "../../src/cluster/memory/memory-kicks.js";
import { createLogger } from "../../src/ops/logger.js";
import { GatewayMetrics } from "../../src/ops/metrics.js";
import type { GatewaySocket, Session } from "../../src/protocol/session.js";

const T0 = Date.UTC(2026, 0, 1);
const DAY_MS = 24 * 3600 * 1000;

/** The parts of a socket the expiry timer touches: its session, emit and a server-side disconnect. */
function fakeSocket(expiresAtS: number | undefined) {
  const emitted: Array<{ code: string; message: string }> = [];
  const socket = {
    connected: true,
    data: { identity: { userId: "u", rooms: [], expiresAt: expiresAtS } } as unknown as Session,
    emit: (_event: string, error: { code: string; message: string }) => void emitted.push(error),
    disconnect(close: boolean) {
      expect(close).toBe(true);
      socket.connected = false;
      return socket;
    },
  };
  return { socket, asGatewaySocket: socket as unknown as GatewaySocket, emitted };
}

describe("token expiry of one socket", () => {
  let metrics: GatewayMetrics;
  const expiry = (graceMs: number, clockToleranceS = 5) => new TokenExpiry({ clockToleranceS, graceMs, metrics, logger: createLogger("silent") });
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
    metrics = new GatewayMetrics();
  });
  afterEach(() => vi.useRealTimers());

  it("expired from exp + tolerance: one notice then, the disconnect after the grace, nothing before", async () => {
    const e = expiry(30_000);
    const { socket, asGatewaySocket, emitted } = fakeSocket(T0 / 1000 + 60);
    e.arm(asGatewaySocket);
    expect(e.isExpired(socket.data)).toBe(false);
    vi.advanceTimersByTime(65_000 - 1);
    expect(emitted).toEqual([]);
    expect(e.isExpired(socket.data)).toBe(false);
    vi.advanceTimersByTime(1);
    expect(e.isExpired(socket.data)).toBe(true);
    expect(emitted).toEqual([{ code: "AUTH_EXPIRED", message: expect.stringContaining("within 30 s") }]);
    vi.advanceTimersByTime(30_000 - 1);
    expect(socket.connected).toBe(true);
    vi.advanceTimersByTime(1);
    expect(socket.connected).toBe(false);
    expect(emitted.map((x) => x.code)).toEqual(["AUTH_EXPIRED", "AUTH_EXPIRED"]);
    expect((await metrics.tokenExpiredDisconnects.get()).values[0]?.value).toBe(1);
    expect(socket.data.expiryTimer).toBeUndefined();
  });

  it("a refresh re-arms for the new exp; disarm leaves no timer", () => {
    const e = expiry(1000, 0);
    const { socket, asGatewaySocket, emitted } = fakeSocket(T0 / 1000 + 10);
    e.arm(asGatewaySocket);
    vi.advanceTimersByTime(10_500);
    expect(emitted).toHaveLength(1);
    socket.data.identity = { ...socket.data.identity, expiresAt: T0 / 1000 + 3600 };
    e.arm(asGatewaySocket);
    vi.advanceTimersByTime(60_000);
    expect(socket.connected).toBe(true);
    expect(emitted).toHaveLength(1);
    e.disarm(socket.data);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a deadline beyond setTimeout's range (40 days) is reached in steps, never early", () => {
    const e = expiry(0, 0);
    const { socket, asGatewaySocket, emitted } = fakeSocket(T0 / 1000 + 40 * 24 * 3600);
    e.arm(asGatewaySocket);
    // setTimeout turns a delay past 2^31-1 ms into 1 ms: an unclamped timer would fire (and re-arm) at once, in a loop.
    const first = socket.data.expiryTimer;
    vi.advanceTimersByTime(1000);
    expect(socket.data.expiryTimer).toBe(first);
    vi.advanceTimersByTime(25 * DAY_MS);
    expect(socket.connected).toBe(true);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(15 * DAY_MS);
    // Grace 0: the notice and the disconnect come together.
    expect(socket.connected).toBe(false);
    expect(emitted).toHaveLength(1);
  });

  it("a token without exp arms nothing", () => {
    const e = expiry(1000);
    const { socket, asGatewaySocket } = fakeSocket(undefined);
    e.arm(asGatewaySocket);
    expect(vi.getTimerCount()).toBe(0);
    expect(e.isExpired(socket.data)).toBe(false);
  });
});

describe("kick rule on iat", () => {
  const identity = (issuedAt?: number) => ({ userId: "kicked", rooms: [], expiresAt: 2e9, issuedAt });

  it("refuses tokens issued before the kick's second (and tokens without iat); accepts the kick's own second, later ones and other users", async () => {
    const kicks = new MemoryKicks(60_000);
    try {
      const kickMs = Date.now() - 10_000 + 400; // 400 ms into its second
      await kicks.recordKick("kicked", kickMs);
      const kickS = Math.floor(kickMs / 1000);
      for (const iat of [kickS - 100, kickS - 1, undefined])
        await expect(assertNotKicked(kicks, identity(iat)), `iat ${iat}`).rejects.toMatchObject({ code: "AUTH_INVALID" });
      // Re-authenticating right after a kick works: iat has whole seconds, the kick's own second counts as after it.
      for (const iat of [kickS, kickS + 1]) await expect(assertNotKicked(kicks, identity(iat)), `iat ${iat}`).resolves.toBeUndefined();
      await expect(assertNotKicked(kicks, { ...identity(kickS - 100), userId: "someone-else" })).resolves.toBeUndefined();
    } finally {
      await kicks.close();
    }
  });

  it("fails closed: a store that cannot answer refuses with its UNAVAILABLE", async () => {
    const down = {
      recordKick: async () => undefined,
      kickedAt: async () => Promise.reject(Object.assign(new Error("down"), { code: "UNAVAILABLE" })),
      close: async () => undefined,
    };
    await expect(assertNotKicked(down, identity(Math.floor(Date.now() / 1000)))).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });
});
