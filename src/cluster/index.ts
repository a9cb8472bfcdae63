// Chooses what pods share: in-memory services (embedded) or Redis (cluster), from the config alone.
import { Adapter } from "socket.io-adapter";
import type { GatewayConfig } from "../config.js";
import type { Logger } from "../ops/logger.js";
import type { GatewayMetrics } from "../ops/metrics.js";
import { MemoryHistory } from "./memory/memory-history.js";
import { MemoryIdempotency } from "./memory/memory-idempotency.js";
import { MemoryInbox } from "./memory/memory-inbox.js";
import { MemoryKicks } from "./memory/memory-kicks.js";
import { MemoryPresence } from "./memory/memory-presence.js";
import { ALWAYS_HEALTHY } from "./fanout-health.js";
import { presenceModeLimits } from "../presence/limits.js";
import type { ClusterServices, PresenceEntry } from "./types.js";
import { MemoryFleetLoad } from "./memory/memory-fleet-load.js";
import { FLEET_LOAD_TTL_MS } from "./fleet-load.js";

export interface ClusterDeps {
  /** This pod's own presence entries (its connected sockets' rooms): the truth Redis is rebuilt from after an outage. */
  localPresence(): Iterable<PresenceEntry>;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Unique per process: owns this pod's presence entries in Redis. */
  podId: string;
}

export async function createClusterServices(config: GatewayConfig, deps: ClusterDeps): Promise<ClusterServices> {
  if (config.redis) {
    const { createRedisServices } = await import("./redis/index.js");
    return createRedisServices(config, config.redis, deps);
  }
  return createMemoryServices(config, deps);
}

export function createMemoryServices(config: GatewayConfig, deps: Pick<ClusterDeps, "metrics">): ClusterServices {
  const presence = new MemoryPresence(presenceModeLimits(config.presenceFullMaxUsers));
  const inbox = new MemoryInbox({
    maxLength: config.inboxMaxLength,
    maxAgeMs: config.inboxMaxAgeMs,
    idempotencyTtlMs: config.idempotencyTtlMs,
    onTrim: (n) => deps.metrics.inboxTrimmed.inc(n),
  });
  const history = new MemoryHistory({ maxLength: config.historyMaxLength, ttlMs: config.historyTtlMs, idempotencyTtlMs: config.idempotencyTtlMs });
  const idempotency = new MemoryIdempotency(config.idempotencyTtlMs);
  const kicks = new MemoryKicks(config.kickTtlMs);
  return {
    mode: "embedded",
    adapter: Adapter,
    presence,
    inbox,
    history,
    idempotency,
    kicks,
    fleetLoad: new MemoryFleetLoad(FLEET_LOAD_TTL_MS),
    fanout: ALWAYS_HEALTHY,
    isHealthy: () => true,
    close: async () => {
      await Promise.all([presence.close(), inbox.close(), history.close(), idempotency.close(), kicks.close()]);
    },
  };
}
