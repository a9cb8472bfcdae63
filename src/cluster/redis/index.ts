// Cluster mode's Redis side: clients, the Socket.IO adapter, the four stores, health and recovery.
import type { GatewayConfig, RedisConfig } from "../../config.js";
import type { ClusterDeps } from "../index.js";
import { presenceModeLimits } from "../../presence/limits.js";
import type { ClusterServices } from "../types.js";
import {
  adapterFor,
  catchFireAndForget,
  createRedisClients,
  DEFAULT_TUNING,
  describeRedisFailure,
  redisFailureCause,
  type RedisFailureCause,
} from "./redis-clients.js";
import { FanoutCanary } from "./fanout-canary.js";
import { SubscriptionTracker } from "./subscription-tracker.js";
import { probeFor, RedisHealth } from "./redis-health.js";
import { RedisHistory } from "./redis-history.js";
import { RedisIdempotency } from "./redis-idempotency.js";
import { RedisInbox } from "./redis-inbox.js";
import { RedisKicks } from "./redis-kicks.js";
import { RedisOps, type RedisClient } from "./redis-ops.js";
import { RedisPresence } from "./redis-presence.js";
import { ACK_WAIT_MS, ReplicaAck } from "./replica-ack.js";
import { RedisFleetLoad } from "./redis-fleet-load.js";
import { FLEET_LOAD_TTL_MS } from "../fleet-load.js";

// REDIS_OP_TIMEOUT_MS: any one store operation fails with UNAVAILABLE after it, whatever the connection does.
// REDIS_STARTUP_WAIT_MS: start-up waits this long for Redis, then goes on unready (readiness 503) until it answers.
const ERROR_LOG_EVERY_MS = 30_000;

export async function createRedisServices(config: GatewayConfig, redis: RedisConfig, deps: ClusterDeps): Promise<ClusterServices> {
  const { logger, metrics, podId } = deps;
  const log = logger.child({ component: "redis", redis: redis.kind });
  const clients = createRedisClients(redis, podId, DEFAULT_TUNING);

  // Connection errors arrive on every retry; one line per outage (and a reminder now and then) is enough.
  // A refused password or certificate never heals by itself: it is logged at error level with the
  // settings to check, at once on the first occurrence of each cause (then with the same throttle).
  let lastErrorLog = 0;
  let lastCause: RedisFailureCause | undefined;
  const reportError = (err: unknown) => {
    const now = Date.now();
    const cause = redisFailureCause(err);
    if (now - lastErrorLog < ERROR_LOG_EVERY_MS && cause === lastCause) return;
    lastErrorLog = now;
    lastCause = cause;
    const detail = err instanceof Error ? { name: err.name, message: err.message, code: (err as NodeJS.ErrnoException).code } : String(err);
    if (cause) log.error({ err: detail, cause: cause === "auth" ? "REDIS_AUTH_REFUSED" : "REDIS_TLS_FAILED" }, describeRedisFailure(cause, redis));
    else log.warn({ err: detail }, "redis error");
  };
  for (const c of [clients.command, clients.sub]) {
    c.on("error", reportError);
    catchFireAndForget(c, reportError);
  }

  const adapter = adapterFor(clients);
  // Installed before the adapter exists: it sees every per-room SSUBSCRIBE the sharded adapter sends.
  const subscriptions = adapter.kind === "sharded" ? new SubscriptionTracker(clients.sub) : undefined;
  // Probes start once the gateway installed the adapter (FanoutHealth.watch).
  const fanout = new FanoutCanary(clients, adapter.kind, podId, metrics, log.child({ component: "fanout-canary" }), undefined, subscriptions);

  const ops = new RedisOps(clients.command, { opTimeoutMs: config.redisOpTimeoutMs });
  const presence = new RedisPresence(ops, {
    podId,
    ttlMs: config.presenceTtlMs,
    graceMs: config.presenceGraceMs,
    limits: presenceModeLimits(config.presenceFullMaxUsers),
  });
  // REDIS_ACK_REPLICAS: appends resolve only once that many replicas have them (see replica-ack.ts).
  const replicaAck =
    config.redisAckReplicas > 0 ? new ReplicaAck(ops, config.redisAckReplicas, Math.min(ACK_WAIT_MS, Math.max(10, config.redisOpTimeoutMs - 100))) : undefined;
  const inbox = new RedisInbox(ops, {
    maxLength: config.inboxMaxLength,
    maxAgeMs: config.inboxMaxAgeMs,
    idempotencyTtlMs: config.idempotencyTtlMs,
    replicaAck,
    onTrim: (n) => metrics.inboxTrimmed.inc(n),
  });
  const history = new RedisHistory(ops, {
    maxLength: config.historyMaxLength,
    ttlMs: config.historyTtlMs,
    idempotencyTtlMs: config.idempotencyTtlMs,
    replicaAck,
  });
  const idempotency = new RedisIdempotency(ops, { ttlMs: config.idempotencyTtlMs });
  const kicks = new RedisKicks(ops, config.kickTtlMs);

  // After an outage Redis may have restarted empty: this pod's connected sockets are the truth for its
  // share of presence. Written without transitions (see RedisPresence.rebuild).
  const rebuildPresence = async () => {
    const entries = [...deps.localPresence()];
    await presence.rebuild(entries);
    log.info({ entries: entries.length }, "presence rebuilt from this pod's sockets");
  };

  let everUp = false;
  let rebuilding: Promise<void> | undefined;
  const health = new RedisHealth(
    [clients.command, clients.sub],
    probeFor(clients.command, clients.kind),
    { pingIntervalMs: 1000, pingTimeoutMs: 1000 },
    (up) => {
      metrics.redisUp.set(up ? 1 : 0);
      if (!up) {
        log.error("redis unreachable: cluster operations answer UNAVAILABLE and readiness is 503 until it returns");
        return;
      }
      log.info({ adapter: adapter.kind, recovered: everUp }, "redis reachable");
      lastErrorLog = 0;
      lastCause = undefined;
      if (everUp && !rebuilding) {
        rebuilding = rebuildPresence()
          .catch((err: unknown) => log.warn({ err }, "presence rebuild failed; heartbeats keep restoring entries"))
          .finally(() => (rebuilding = undefined));
      }
      everUp = true;
    },
  );
  metrics.redisUp.set(health.isUp() ? 1 : 0);

  if (!(await health.waitUntilUp(config.redisStartupWaitMs)))
    log.error({ waitedMs: config.redisStartupWaitMs, cause: lastCause }, "redis not reachable at start-up; starting unready");

  let closing: Promise<void> | undefined;
  return {
    mode: "redis",
    adapter: adapter.factory,
    presence,
    inbox,
    history,
    idempotency,
    kicks,
    fleetLoad: new RedisFleetLoad(ops, FLEET_LOAD_TTL_MS),
    fanout,
    isHealthy: () => health.isUp(),
    close: () =>
      (closing ??= (async () => {
        health.stop();
        fanout.close();
        await rebuilding;
        await Promise.allSettled([presence.close(), inbox.close(), history.close(), idempotency.close(), kicks.close()]);
        ops.close();
        await Promise.all([quit(clients.command), quit(clients.sub)]);
        metrics.redisUp.set(0);
      })()),
  };
}

/** QUIT lets Redis finish what was sent; a dead connection gets a plain disconnect after a short wait. */
async function quit(client: RedisClient): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.quit().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 1000)))]);
  clearTimeout(timer);
  client.disconnect();
}
