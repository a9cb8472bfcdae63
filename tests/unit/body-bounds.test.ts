// measureBody counts what JSON.stringify writes, without recursion, and stops at the first bound crossed.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assertBodyWithinBounds, measureBody } from "../../src/protocol/body-bounds.js";

describe("measureBody", () => {
  it("counts exactly the UTF-8 bytes JSON.stringify writes for any JSON value", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.string({ unit: "binary" }), (value, s) => {
        for (const v of [value, s, { [s]: value }]) {
          const verdict = measureBody(v, { maxBodyBytes: 10_000_000, maxDepth: 100 });
          expect(verdict.ok && verdict.bytes).toBe(Buffer.byteLength(JSON.stringify(v)));
        }
      }),
      { numRuns: 150 },
    );
  });

  it("counts binary at its byte length and depth as container levels", () => {
    expect(measureBody({ a: Buffer.alloc(1000) }, { maxBodyBytes: 2000 })).toMatchObject({ ok: true, bytes: 1000 + 6, depth: 1 });
    expect(measureBody([[[]]], { maxBodyBytes: 100 })).toMatchObject({ ok: true, depth: 3 });
    expect(measureBody(Buffer.alloc(70_000), { maxBodyBytes: 65_536 })).toMatchObject({ ok: false, reason: "too_large" });
  });

  it("refuses a million levels without a stack overflow, and 33 levels past a bound of 32", () => {
    const deep = JSON.parse("[".repeat(1_000_000) + "]".repeat(1_000_000)) as unknown;
    expect(measureBody(deep, { maxBodyBytes: 65_536 })).toMatchObject({ ok: false, reason: "too_deep", depth: 33 });
    const at32 = JSON.parse("[".repeat(32) + "]".repeat(32)) as unknown;
    expect(measureBody(at32, { maxBodyBytes: 65_536 }).ok).toBe(true);
    expect(() => assertBodyWithinBounds(deep, { maxBodyBytes: 65_536 })).toThrow(/nested deeper than 32 levels/);
  });

  it("stops early on a huge wide body", () => {
    const wide = Array.from({ length: 1_000_000 }, () => 1);
    const started = performance.now();
    expect(measureBody(wide, { maxBodyBytes: 1000 })).toMatchObject({ ok: false, reason: "too_large" });
    expect(() => assertBodyWithinBounds({ f: () => 1 }, { maxBodyBytes: 1000 })).toThrow(/only JSON values/);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
