// One-minute soak (the 10-minute version is `node tests/hardening/soak.mjs`): churning connections, joins,
// messages and disconnects against a real gateway process; heap and RSS sampled after a forced GC.
// After warm-up there is no growth trend, and once every client is gone the file descriptors,
// timers, shared-emitter listeners, sockets and rooms are back to the baseline.
import { describe, expect, it } from "vitest";
// @ts-expect-error plain .mjs script without type declarations
import { runSoak } from "./soak.mjs";

interface SoakReport {
  durationMs: number;
  warmupMs: number;
  samples: number;
  counts: Record<string, number>;
  errorSamples: string[];
  slopes: { heapMBPerMin: number; rssMBPerMin: number; externalMBPerMin: number };
  perConnection?: { connections: number; heapBytes: number; heapBytesPerConnection: number; clientsLeftAtWarmPoint: number };
  heapMB: { baseline: number; afterWarmupMin: number; max: number; final: number };
  rssMB: { baseline: number; max: number; final: number };
  baseline: { fds: number; timers: number; listeners: Record<string, number> };
  final: { fds: number; timers: number; listeners: Record<string, number>; engineClients: number; sockets: number; rooms: number; sids: number };
  peak: { fds: number; timers: number; sockets: number };
  gatewayErrorLogs: string[];
  gatewayExitedEarly: boolean;
}

describe("soak (1 minute)", () => {
  it("churns connections without growth after warm-up and leaves nothing behind", { timeout: 120_000 }, async () => {
    const report = (await runSoak({ durationMs: 60_000, clients: 30, warmupFraction: 0.3, sampleEveryMs: 2000 })) as SoakReport;
    const { counts, slopes } = report;
    console.log(
      `[hardening] soak 1 min: ${counts.connections} connections, ${counts.joins} joins, ${counts.messages} room + ${counts.direct} direct messages, ` +
        `${counts.published} API publishes, ${counts.abrupt} abrupt drops; heap slope ${slopes.heapMBPerMin.toFixed(3)} MB/min, ` +
        `RSS slope ${slopes.rssMBPerMin.toFixed(3)} MB/min after ${report.warmupMs / 1000} s warm-up (${report.samples} samples); ` +
        `heap ${report.heapMB.baseline.toFixed(1)} -> max ${report.heapMB.max.toFixed(1)} -> final ${report.heapMB.final.toFixed(1)} MB; ` +
        `fds ${report.baseline.fds} -> peak ${report.peak.fds} -> ${report.final.fds}; timers ${report.baseline.timers} -> peak ${report.peak.timers} -> ${report.final.timers}; ` +
        `listeners ${JSON.stringify(report.baseline.listeners)} -> ${JSON.stringify(report.final.listeners)}`,
    );
    expect(report.gatewayExitedEarly).toBe(false);
    expect(report.gatewayErrorLogs).toEqual([]);
    expect(counts.errors, JSON.stringify(report.errorSamples)).toBe(0);
    expect(counts.connections).toBeGreaterThan(300);
    // Heap after a forced GC: a leak of even one small object per connection would show here.
    // The bound is loose on purpose (2 shared cores, one minute): the figure is reported above.
    expect(slopes.heapMBPerMin).toBeLessThan(4);
    // What each connection leaves behind: heap between two quiet points (no client, forced GC), per
    // connection made in between. A leak of one small object graph per connection shows here.
    console.log(`[hardening] soak per connection: ${JSON.stringify(report.perConnection)}`);
    expect(report.perConnection, "quiet point after warm-up").toBeDefined();
    expect(report.perConnection!.clientsLeftAtWarmPoint).toBe(0);
    expect(report.perConnection!.connections).toBeGreaterThan(150);
    // 4 KiB: today's code measures about 2.2 KB per connection here (two runs: 2185, 2230 bytes; not
    // yet explained: it may be slow-to-expire state rather than a leak), so the bound sits above that;
    // a socket kept alive after its disconnect (its whole object graph) is well above it, and a slope
    // of a few MB/min could not see it.
    expect(report.perConnection!.heapBytesPerConnection, "heap bytes left per connection").toBeLessThan(4096);
    expect(slopes.rssMBPerMin).toBeLessThan(40);
    expect(report.final).toMatchObject({ engineClients: 0, sockets: 0, rooms: 0, sids: 0 });
    expect(report.final.fds).toBeLessThanOrEqual(report.baseline.fds);
    expect(report.final.timers).toBeLessThanOrEqual(report.baseline.timers);
    for (const [emitter, n] of Object.entries(report.final.listeners))
      expect(n, `${emitter} listeners`).toBeLessThanOrEqual(report.baseline.listeners[emitter]!);
  });
});
