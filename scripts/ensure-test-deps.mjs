#!/usr/bin/env node
// Installs the Debian packages the test suite talks to (real redis-server, haproxy, promtool,
// Go + sprig for rendering the Helm chart, chromium for the browser test, debootstrap for the runtime
// tier's production root filesystem) when they are missing.
// Runs as `npm test`'s pretest. Needs root for apt-get; otherwise prints the exact command.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Debian package -> a file that proves it is installed. */
const PACKAGES = {
  "redis-server": "/usr/bin/redis-server",
  "redis-tools": "/usr/bin/redis-cli",
  haproxy: "/usr/sbin/haproxy",
  prometheus: "/usr/bin/promtool",
  "golang-go": "/usr/bin/go",
  "golang-github-masterminds-sprig-dev": "/usr/share/gocode/src/github.com/Masterminds/sprig",
  "golang-k8s-sigs-yaml-dev": "/usr/share/gocode/src/sigs.k8s.io/yaml",
  chromium: "/usr/bin/chromium",
  // Machines of this kind ship kubectl already; Debian's kubernetes-client provides it elsewhere.
  "kubernetes-client": "/usr/bin/kubectl",
  // The runtime tier builds a Debian trixie root filesystem (tests/runtime/production-rootfs.ts).
  debootstrap: "/usr/sbin/debootstrap",
};

const missing = Object.entries(PACKAGES)
  .filter(([, proof]) => !existsSync(proof))
  .map(([pkg]) => pkg);
if (missing.length === 0) process.exit(0);

const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(" ")}`;
if (process.getuid?.() !== 0) {
  console.error(`socketgate tests need these Debian packages: ${missing.join(", ")}\nInstall them as root:\n  ${command}`);
  process.exit(1);
}
console.log(`installing test dependencies: ${missing.join(" ")}`);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
const r = spawnSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { stdio: "inherit", env });
if (r.status !== 0) {
  console.error(`apt-get install failed (${r.status}); run: ${command}`);
  process.exit(1);
}
// The Debian redis-server package starts a system instance on 6379; tests start their own on free ports.
spawnSync("sh", ["-c", "command -v service >/dev/null && service redis-server stop >/dev/null 2>&1 || true"]);
