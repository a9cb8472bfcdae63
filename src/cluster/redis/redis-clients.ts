// Builds the ioredis clients for standalone, Sentinel or Cluster, and picks the Socket.IO adapter that fits.
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import type { Adapter } from "socket.io-adapter";
import type { Namespace } from "socket.io";
import type { RedisConfig } from "../../config.js";
import type { RedisClient } from "./redis-ops.js";

export interface ClientTuning {
  connectTimeoutMs: number;
  /** A sent command with no reply by then is rejected (the connection may be half-open). */
  commandTimeoutMs: number;
  /** Reconnect back-off cap: a restarted Redis is found again within about this long. */
  maxReconnectDelayMs: number;
}

export const DEFAULT_TUNING: ClientTuning = { connectTimeoutMs: 2000, commandTimeoutMs: 2000, maxReconnectDelayMs: 1000 };

export interface RedisClients {
  kind: RedisConfig["kind"];
  /** Store operations and adapter publishes: fails fast while disconnected. */
  command: RedisClient;
  /** Adapter subscriptions only: queues SUBSCRIBE while disconnected and resubscribes after a reconnect. */
  sub: RedisClient;
}

const backoff = (max: number) => (times: number) => Math.min(50 * 2 ** Math.min(times, 10), max);

/**
 * The command client never queues: with no offline queue, no retry per request and no resend of
 * unanswered commands, an operation during an outage fails at once (and is never run twice), instead
 * of waiting for a reconnect that may not come. The subscriber keeps the defaults on purpose: its only
 * commands are (re)subscriptions, which must survive a reconnect.
 */
function commandOptions(t: ClientTuning, name: string): RedisOptions {
  return {
    connectionName: name,
    connectTimeout: t.connectTimeoutMs,
    commandTimeout: t.commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: backoff(t.maxReconnectDelayMs),
  };
}

function subscriberOptions(t: ClientTuning, name: string): RedisOptions {
  return {
    connectionName: name,
    connectTimeout: t.connectTimeoutMs,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    autoResubscribe: true,
    retryStrategy: backoff(t.maxReconnectDelayMs),
  };
}

function clusterOptions(t: ClientTuning, name: string, subscriber: boolean): ClusterOptions {
  const node = subscriber ? subscriberOptions(t, name) : commandOptions(t, name);
  const { retryStrategy: _r, enableOfflineQueue: _o, ...redisOptions } = node;
  return {
    enableOfflineQueue: subscriber,
    // Sharded pub/sub (SSUBSCRIBE) needs one subscriber per master: ioredis routes them by slot.
    shardedSubscribers: subscriber,
    clusterRetryStrategy: backoff(t.maxReconnectDelayMs),
    slotsRefreshTimeout: t.connectTimeoutMs,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    maxRedirections: 8,
    redisOptions,
  };
}

export function createRedisClients(redis: RedisConfig, podId: string, tuning: ClientTuning = DEFAULT_TUNING): RedisClients {
  const cmdName = `socketgate:${podId}:cmd`.replace(/\s/g, "_");
  const subName = `socketgate:${podId}:sub`.replace(/\s/g, "_");
  switch (redis.kind) {
    case "standalone":
      return {
        kind: redis.kind,
        command: new Redis(redis.url, commandOptions(tuning, cmdName)),
        sub: new Redis(redis.url, subscriberOptions(tuning, subName)),
      };
    case "sentinel": {
      const sentinel = { sentinels: redis.sentinels, name: redis.name, sentinelRetryStrategy: backoff(tuning.maxReconnectDelayMs) };
      return {
        kind: redis.kind,
        command: new Redis({ ...commandOptions(tuning, cmdName), ...sentinel }),
        sub: new Redis({ ...subscriberOptions(tuning, subName), ...sentinel }),
      };
    }
    case "cluster":
      return {
        kind: redis.kind,
        command: new Cluster(redis.nodes, clusterOptions(tuning, cmdName, false)),
        sub: new Cluster(redis.nodes, clusterOptions(tuning, subName, true)),
      };
  }
}

export type AdapterKind = "classic" | "sharded";
/** What `io.adapter()` accepts: both adapters are socket.io-adapter Adapters (one copy in the tree). */
type AdapterFactory = (nsp: Namespace) => Adapter;

/**
 * The one place that decides the adapter: Redis Cluster gets sharded pub/sub (Redis 7 SPUBLISH), whose
 * traffic stays on the shard owning the channel instead of being broadcast over the cluster bus to every
 * node; standalone and Sentinel keep the classic PUBLISH/PSUBSCRIBE adapter.
 */
export function adapterFor(clients: RedisClients): { kind: AdapterKind; factory: AdapterFactory } {
  if (clients.kind === "cluster") return { kind: "sharded", factory: createShardedAdapter(clients.command, clients.sub) };
  return { kind: "classic", factory: createAdapter(clients.command, clients.sub) };
}

/** Commands the adapters send without awaiting (PUBLISH in broadcast, SUBSCRIBE in constructors and rooms). */
const FIRE_AND_FORGET = ["publish", "spublish", "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe"];

/**
 * The Socket.IO adapters call these without handling the returned promise; while Redis is down each
 * would become an unhandled rejection. Attaching a handler keeps the promise intact for callers that do
 * await it and reports the failure instead (a broadcast during an outage is lost: pub/sub has no replay).
 */
export function catchFireAndForget(client: RedisClient, onError: (err: unknown) => void): void {
  const target = client as unknown as Record<string, unknown>;
  for (const name of FIRE_AND_FORGET) {
    const original = target[name];
    if (typeof original !== "function") continue;
    target[name] = (...args: unknown[]): unknown => {
      const result: unknown = Reflect.apply(original, client, args);
      if (result && typeof (result as Promise<unknown>).catch === "function") (result as Promise<unknown>).catch(onError);
      return result;
    };
  }
}
