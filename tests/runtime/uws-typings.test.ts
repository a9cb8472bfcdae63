// The source compiles against both declared uWS builds' typings: the build (tsconfig.build.json) uses
// the legacy v20.30 typings, this checks the current v20.57 ones (an option changed type in between).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { REPO } from "./production-rootfs.mjs";

describe("uWebSockets.js typings", () => {
  it("src/ type-checks against the current build's index.d.ts (tsconfig.uws-current.json)", async () => {
    const tsc = promisify(execFile)(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.uws-current.json"], { cwd: REPO }).catch(
      (e: { stdout?: string }) => ({ stdout: `FAILED\n${e.stdout ?? String(e)}` }),
    );
    expect((await tsc).stdout).toBe("");
  }, 180_000);
});
