// Fault-injection events for the process-level test suites: registered only when
// SOCKETGATE_TEST_FAULTS=1 and NODE_ENV=test (config refuses the flag anywhere else).
// Metric label: "unknown" (they are not in CLIENT_EVENTS), so enabling them adds no series.
import { z } from "zod";
import { defineEvent, type EventDefinition } from "./context.js";

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

export function testFaultEvents(): EventDefinition[] {
  return [testThrow, testReject, testSlow];
}
