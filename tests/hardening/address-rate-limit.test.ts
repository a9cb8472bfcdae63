// The per-address connection limiter on its own: burst, refill, isolation, bounded memory.
import { describe, expect, it } from "vitest";
import { AddressRateLimit } from "../../src/transport/address-rate-limit.js";

describe("AddressRateLimit", () => {
  it("admits the burst, then the configured rate, per address", () => {
    let now = 0;
    const rl = new AddressRateLimit({ ratePerS: 2, burst: 3, now: () => now });
    expect([rl.take("a"), rl.take("a"), rl.take("a"), rl.take("a")]).toEqual([true, true, true, false]);
    expect(rl.take("b")).toBe(true);
    now += 499;
    expect(rl.take("a")).toBe(false);
    now += 2;
    expect(rl.take("a")).toBe(true);
    expect(rl.take("a")).toBe(false);
  });

  it("is off at rate 0", () => {
    const rl = new AddressRateLimit({ ratePerS: 0, burst: 1 });
    expect(rl.enabled).toBe(false);
    for (let i = 0; i < 100; i++) expect(rl.take("a")).toBe(true);
    expect(rl.size).toBe(0);
  });

  it("forgets refilled addresses and never tracks more than maxAddresses", () => {
    let now = 0;
    const rl = new AddressRateLimit({ ratePerS: 10, burst: 10, maxAddresses: 1000, now: () => now });
    for (let i = 0; i < 5000; i++) rl.take(`10.0.${i >> 8}.${i & 255}`);
    expect(rl.size).toBe(1000);
    now += 5000; // every bucket is full again
    rl.take("fresh");
    expect(rl.size).toBe(1);
  });

  it("keeps a flooding address limited while spoofed-looking new addresses churn the table", () => {
    let now = 0;
    const rl = new AddressRateLimit({ ratePerS: 1, burst: 2, maxAddresses: 100, now: () => now });
    rl.take("flooder");
    rl.take("flooder");
    for (let i = 0; i < 50; i++) {
      rl.take(`x${i}`);
      expect(rl.take("flooder")).toBe(false); // recently seen: not the eviction victim
      now += 1;
    }
  });
});
