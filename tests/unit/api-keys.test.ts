// API key checks: exactly the configured keys pass, and the comparison has no data-dependent early
// exit. Instead of timing it (too noisy to catch a shortcut on a shared machine), the test counts
// what the check does: every call must compare one fixed-size digest against every configured key.
import { beforeEach, describe, expect, it, vi } from "vitest";

const compared: Array<[number, number]> = [];
vi.mock("node:crypto", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:crypto")>();
  return {
    ...real,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      compared.push([a.byteLength, b.byteLength]);
      return real.timingSafeEqual(a, b);
    },
  };
});
const { ApiKeys } = await import("../../src/api/api-keys.js");

const KEY = "a-very-long-api-key-".repeat(10);
const SECOND = "second-key-0123456789abcdef";

describe("ApiKeys", () => {
  beforeEach(() => {
    compared.length = 0;
  });

  it("accepts exactly the configured keys", () => {
    const keys = new ApiKeys(["k".repeat(16), "another-key-0123456789"]);
    expect(keys.check(`Bearer ${"k".repeat(16)}`)).toBe(true);
    expect(keys.check("Bearer another-key-0123456789")).toBe(true);
    for (const bad of [
      "",
      "Bearer",
      "Bearer ",
      `Bearer ${"k".repeat(15)}`,
      `Bearer ${"k".repeat(17)}`,
      `bearer ${"k".repeat(16)}`,
      `Bearer ${"k".repeat(16)} `,
      `Basic ${"k".repeat(16)}`,
    ])
      expect(keys.check(bad), bad).toBe(false);
    expect(new ApiKeys([]).enabled).toBe(false);
  });

  it("compares a 32-byte digest with every key on every call, whatever the candidate", () => {
    const keys = new ApiKeys([KEY, SECOND]);
    const candidates = {
      right: `Bearer ${KEY}`,
      secondKey: `Bearer ${SECOND}`,
      firstCharWrong: `Bearer X${KEY.slice(1)}`,
      lastCharWrong: `Bearer ${KEY.slice(0, -1)}X`,
      short: "Bearer abc",
      malformed: "Basic abc",
      empty: "",
    };
    for (const [name, header] of Object.entries(candidates)) {
      compared.length = 0;
      keys.check(header);
      // Same work for a right key, a near miss and garbage: two comparisons of equal-length digests.
      expect(compared, name).toEqual([
        [32, 32],
        [32, 32],
      ]);
    }
  });
});
