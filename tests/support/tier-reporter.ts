// Vitest reporter printing, after vitest's own summary, one line per tier (vitest project): files,
// tests passed / failed / skipped, and wall time from the tier's first file start to its last file end.
import type { Reporter, TestModule } from "vitest/node";

interface TierFigures {
  files: number;
  passed: number;
  failed: number;
  skipped: number;
  firstStart: number;
  lastEnd: number;
  /** Sum of the files' own durations (more than the wall time when files run in parallel). */
  fileMs: number;
}

export default class TierReporter implements Reporter {
  private readonly started = new Map<string, number>();
  private readonly runStart = Date.now();

  onTestModuleStart(m: TestModule): void {
    this.started.set(m.moduleId, Date.now());
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const tiers = new Map<string, TierFigures>();
    const now = Date.now();
    for (const m of modules) {
      const name = m.project.name || "(root)";
      const t = tiers.get(name) ?? { files: 0, passed: 0, failed: 0, skipped: 0, firstStart: Infinity, lastEnd: 0, fileMs: 0 };
      const duration = m.diagnostic().duration;
      const start = this.started.get(m.moduleId) ?? now - duration;
      t.files++;
      t.fileMs += duration;
      t.firstStart = Math.min(t.firstStart, start);
      t.lastEnd = Math.max(t.lastEnd, start + duration);
      let failedHere = 0;
      for (const test of m.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") t.passed++;
        else if (state === "failed") failedHere++;
        else t.skipped++;
      }
      // A file that failed outside its tests (import error, hook) counts as one failure.
      t.failed += m.state() === "failed" && failedHere === 0 ? 1 : failedHere;
      tiers.set(name, t);
    }
    if (tiers.size === 0) return;
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const lines = [...tiers]
      .sort((a, b) => a[1].firstStart - b[1].firstStart)
      .map(
        ([name, t]) =>
          `  ${name.padEnd(12)} ${String(t.files).padStart(3)} files  ${String(t.passed).padStart(4)} passed  ${String(t.failed).padStart(3)} failed  ${String(t.skipped).padStart(3)} skipped  ${s(t.lastEnd - t.firstStart).padStart(8)} wall  (${s(t.fileMs)} in files)`,
      );
    process.stdout.write(`\n Per tier (npm run test:<tier> runs one):\n${lines.join("\n")}\n  ${"all".padEnd(12)} ${s(now - this.runStart)} wall\n`);
  }
}
