// Fault-injection events for the process-level test suites: registered only when
// SOCKETGATE_TEST_FAULTS=1 and NODE_ENV=test (config refuses the flag anywhere else).
// Metric label: "unknown" (they are not in CLIENT_EVENTS), so enabling them adds no series.
import { z } from "zod";
import type { FanOutFaults } from "../delivery/message-delivery.js";
import { defineEvent, type EventDefinition } from "./context.js";

/** Shared with the gateway's message delivery when test faults are on (one gateway per test process). */
export const fanOutFaults: FanOutFaults = { failNext: 0 };

/** `test:throw`: a synchronous exception in a handler (a "panic"): outcome error, handler_errors +1. */
const testThrow = defineEvent({
  name: "test:throw",
  schema: z.strictObject({}),
  handle() {
    throw new Error("injected test fault: test:throw");
  },
});

/** `test:reject`: a promise rejected after an await, with a plain Error: same accounting as test:throw. */
const testReject = defineEvent({
  name: "test:reject",
  schema: z.strictObject({}),
  async handle() {
    await new Promise<void>((r) => setImmediate(r));
    throw new Error("injected test fault: test:reject");
  },
});

/** `test:slow` { ms }: answers ok after sleeping (histogram buckets, drain waiting for in-flight work). */
const testSlow = defineEvent({
  name: "test:slow",
  schema: z.strictObject({ ms: z.number().int().min(0).max(30_000) }),
  async handle(_call, { ms }) {
    await new Promise<void>((r) => setTimeout(r, ms));
    return { sleptMs: ms };
  },
});

/** `test:fail-fanout` { count }: the next `count` fan-outs after a successful store throw (the sends must still answer ok). */
const testFailFanout = defineEvent({
  name: "test:fail-fanout",
  schema: z.strictObject({ count: z.number().int().min(0).max(1000) }),
  async handle(_call, { count }) {
    fanOutFaults.failNext = count;
    return { count };
  },
});

export function testFaultEvents(): EventDefinition[] {
  return [testThrow, testReject, testSlow, testFailFanout];
}
