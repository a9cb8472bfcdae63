// The README's configuration table is generated from the config schema: they must not drift.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { settingsMarkdown } from "../../src/config.js";

describe("README", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  it("holds exactly the generated configuration table (run scripts/print-config-table.mjs after a build)", () => {
    const begin = readme.indexOf("<!-- config:begin -->");
    const end = readme.indexOf("<!-- config:end -->");
    expect(begin).toBeGreaterThanOrEqual(0);
    expect(readme.slice(begin, end + "<!-- config:end -->".length)).toBe(settingsMarkdown());
  });
  it("documents the two quick-start commands", () => {
    expect(readme).toContain("npm ci && npm start");
    expect(readme).toContain("npm test");
  });
});
