// One table classifies every error code for handshakes, client events and the backend API; the three
// defects it fixed: internal handshake failures counted as the client's bad_request, a redis_unavailable
// series that never moved, and API failures that were never logged.
import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { ERROR_CLASSES, ERROR_CODES, GatewayError } from "../../src/errors.js";
import { createLogger } from "../../src/ops/logger.js";
import { FAILURE_REASONS, GatewayMetrics } from "../../src/ops/metrics.js";
import type { GatewaySocket } from "../../src/protocol/session.js";
import { createAdmission } from "../../src/auth/admission.js";
import { MemoryKicks } from "../../src/cluster/memory/memory-kicks.js";
import { ConnectionAccounting } from "../../src/transport/engine-accounting.js";

async function failures(metrics: GatewayMetrics): Promise<Record<string, number>> {
  const m = await metrics.connectionFailures.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.reason), v.value]));
}

/** The parts of a Socket.IO socket admission reads during a handshake. */
function handshakingSocket(): GatewaySocket {
  // close(): a retryable refusal (UNAVAILABLE, DRAINING) closes the transport so socket.io-client retries.
  const conn = Object.assign(new EventEmitter(), { transport: { name: "websocket" }, close: () => undefined });
  return { handshake: { auth: { token: "t" }, headers: {}, address: "127.0.0.1" }, conn, data: {} } as unknown as GatewaySocket;
}

function admissionWith(verify: () => Promise<never>) {
  const metrics = new GatewayMetrics();
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) });
  const admission = createAdmission({
    verifier: { mode: "hs256", verify },
    kicks: new MemoryKicks(60_000),
    ledger: new ConnectionAccounting(metrics),
    logger: createLogger("debug", sink),
    trustProxyHops: 0,
    rateLimitEventsPerS: 10,
    rateLimitBurst: 10,
    isDraining: () => false,
  });
  const refuse = () =>
    new Promise<Error & { data?: { code: string } }>((resolve) =>
      admission.middleware(handshakingSocket(), (err) => resolve(err as Error & { data?: { code: string } })),
    );
  return { metrics, lines, refuse };
}

describe("one error table", () => {
  it("classifies every code, with a 4xx API status for client faults and a 5xx for the gateway's own", () => {
    for (const code of ERROR_CODES) {
      const c = ERROR_CLASSES[code];
      expect(FAILURE_REASONS, code).toContain(c.handshakeReason);
      if (c.fault === "client") expect(c.httpStatus, code).toBeLessThan(500);
      else expect(c.httpStatus, code).toBeGreaterThanOrEqual(500);
    }
  });

  it("counts an unexpected handshake failure as internal (not the client's bad_request), answers INTERNAL and logs it", async () => {
    const { metrics, lines, refuse } = admissionWith(() => Promise.reject(new Error("verifier bug")));
    const err = await refuse();
    expect(err.data?.code).toBe("INTERNAL");
    const f = await failures(metrics);
    expect(f.internal).toBe(1);
    expect(f.bad_request).toBe(0);
    expect(lines.some((l) => l.msg === "handshake failed unexpectedly" && l.level === "error")).toBe(true);
  });

  it("counts a handshake refused because the shared store is unreachable as redis_unavailable", async () => {
    const { metrics, refuse } = admissionWith(() => Promise.reject(new GatewayError("UNAVAILABLE", "redis did not answer")));
    const err = await refuse();
    expect(err.data?.code).toBe("UNAVAILABLE");
    const f = await failures(metrics);
    expect(f.redis_unavailable).toBe(1);
    expect(f.bad_request).toBe(0);
  });
});
