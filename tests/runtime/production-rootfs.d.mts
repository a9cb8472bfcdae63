// Types of production-rootfs.mjs (plain JavaScript so that the bench, which runs under Node 20
// without a TypeScript loader, starts the gateway in the same root filesystem as the runtime tier).
import type { ChildProcess } from "node:child_process";

export const REPO: string;
export const NODE_MAJOR: string;
export const RUN_AS: { uid: number; gid: number };
export const CACHE_DIR: string;

export interface ProductionRoot {
  root: string;
  appDir: string;
  depsDir: string;
  /** bin: the Node binary on the host, bind-mounted read-only at /usr/local/bin/node. */
  node: { version: string; integrity: string; bin: string };
  glibc: string;
  mirror: string;
  /** Per phase (rootfs, node, deps, app): milliseconds, and whether the cache served it. */
  timings: Record<string, number>;
  cached: Record<string, boolean>;
}

export interface Launch {
  command: string;
  args: string[];
  /** The pid to signal: tini (PID 1 inside the namespace), not the unshare wrapper. */
  signalTarget: (child: ChildProcess) => number;
}

export function missingPrerequisite(): string | undefined;
export function debianMirror(): string;
export function prepareProductionRoot(log?: (line: string) => void, options?: { nodeMajor?: string }): ProductionRoot;
export function productionLaunch(p: ProductionRoot): Launch;
export function childrenOf(pid: number): number[];
export function removeApp(p: { appDir: string }): void;
