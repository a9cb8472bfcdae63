// Whether Redis answers: connection state of every client plus a periodic PING, reported on change.
import type { RedisClient } from "./redis-ops.js";
import { storeDeadline } from "./store-deadline.js";

export interface HealthOptions {
  pingIntervalMs: number;
  pingTimeoutMs: number;
}

/**
 * Connection events alone miss a half-open socket (a partitioned or frozen server keeps the TCP
 * connection "ready") and a Redis Cluster that lost a master (the client stays "ready" while a share of
 * the slots fails), so a probe under a deadline also has to succeed for the store to count as up.
 */
export class RedisHealth {
  private up = false;
  private pingOk = true;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly clients: RedisClient[],
    /** Resolves true when the store answers: PING, or CLUSTER INFO reporting cluster_state:ok on a cluster. */
    private readonly probe: () => Promise<boolean>,
    private readonly options: HealthOptions,
    private readonly onChange: (up: boolean) => void,
  ) {
    for (const c of clients) for (const ev of ["ready", "connect", "close", "end", "reconnecting", "error", "+node", "-node"]) c.on(ev, () => this.recompute());
    this.timer = setInterval(() => void this.ping(), options.pingIntervalMs);
    this.timer.unref();
    this.recompute();
  }

  isUp(): boolean {
    return this.up;
  }

  /** Resolves true once up, or false after timeoutMs (start-up goes on unready rather than hanging). */
  waitUntilUp(timeoutMs: number): Promise<boolean> {
    if (this.up) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.up);
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const w of [...this.waiters]) w();
  }

  private async ping(): Promise<void> {
    if (this.stopped || !this.connected()) return;
    // Stall-aware: a pod busy past the timeout (a join storm on a starved CPU) is not "Redis down", which
    // would turn readiness off and rebuild presence in the middle of the storm.
    const ok = await storeDeadline(this.probe(), this.options.pingTimeoutMs, () => new Error("ping timed out")).catch(() => false);
    this.pingOk = ok;
    this.recompute();
  }

  private connected(): boolean {
    return this.clients.every((c) => c.status === "ready");
  }

  private recompute(): void {
    if (this.stopped) return;
    const connected = this.connected();
    // A fresh connection proves the server answers: do not wait for the next PING to report it.
    if (!connected) this.pingOk = true;
    const up = connected && this.pingOk;
    if (up === this.up) return;
    this.up = up;
    this.onChange(up);
    if (up) for (const w of [...this.waiters]) w();
  }
}

/** The probe that fits the client: a cluster is only up while it serves every slot. */
export function probeFor(client: RedisClient, kind: "standalone" | "sentinel" | "cluster"): () => Promise<boolean> {
  if (kind === "cluster") return async () => String(await client.cluster("INFO")).includes("cluster_state:ok");
  return async () => (await client.ping()) === "PONG";
}
