// Builds the ioredis clients for standalone, Sentinel or Cluster, and picks the Socket.IO adapter that fits.
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import type { Adapter } from "socket.io-adapter";
import type { Namespace } from "socket.io";
import { ConfigError, type RedisAccess, type RedisConfig } from "../../config.js";
import type { RedisClient } from "./redis-ops.js";

export interface ClientTuning {
  connectTimeoutMs: number;
  /** Reconnect back-off cap: a restarted Redis is found again within about this long. */
  maxReconnectDelayMs: number;
}

export const DEFAULT_TUNING: ClientTuning = { connectTimeoutMs: 2000, maxReconnectDelayMs: 1000 };

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
 * No ioredis commandTimeout: its timer fires before a reply received during an event-loop stall is read, so a
 * busy pod failed every command in flight although Redis had answered. Every awaited command runs under
 * RedisOps' deadline instead (stall-aware, see store-deadline.ts), which also covers a half-open connection;
 * the rest (adapter publishes, the canary) are fire-and-forget.
 */
function commandOptions(t: ClientTuning, name: string): RedisOptions {
  return {
    connectionName: name,
    connectTimeout: t.connectTimeoutMs,
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

/** The PEM files of REDIS_TLS_*_FILE, read once at start-up: an unreadable file stops start-up, naming it. */
function tlsOptions(tls: NonNullable<RedisAccess["tls"]>): ConnectionOptions {
  const read = (file: string, setting: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError([`${setting} = ${JSON.stringify(file)}: expected a readable PEM file (${(err as Error).message})`]);
    }
  };
  const out: ConnectionOptions = {};
  if (tls.caFile) out.ca = read(tls.caFile, "REDIS_TLS_CA_FILE");
  if (tls.certFile) out.cert = read(tls.certFile, "REDIS_TLS_CERT_FILE");
  if (tls.keyFile) out.key = read(tls.keyFile, "REDIS_TLS_KEY_FILE");
  // Node verifies the certificate chain and host name by default; nothing here may turn that off.
  return out;
}

/**
 * Credentials and TLS of one data connection (standalone, Sentinel master, every Cluster node).
 * With TLS on, ioredis only ever opens TLS sockets: a failed handshake is an error and a retry, never
 * a plaintext connection.
 */
function accessOptions(access: RedisAccess): Pick<RedisOptions, "username" | "password" | "tls"> {
  const out: Pick<RedisOptions, "username" | "password" | "tls"> = {};
  if (access.username !== undefined) out.username = access.username;
  if (access.password !== undefined) out.password = access.password;
  if (access.tls) out.tls = tlsOptions(access.tls);
  return out;
}

/** REDIS_USERNAME / REDIS_PASSWORD win over credentials written in the URL (a Secret may hold only the host). */
function urlWithoutOverriddenCredentials(url: string, access: RedisAccess): string {
  if (access.username === undefined && access.password === undefined) return url;
  const u = new URL(url);
  if (access.username !== undefined) u.username = "";
  if (access.password !== undefined) u.password = "";
  return u.toString();
}

export function createRedisClients(redis: RedisConfig, podId: string, tuning: ClientTuning = DEFAULT_TUNING): RedisClients {
  const cmdName = `socketgate:${podId}:cmd`.replace(/\s/g, "_");
  const subName = `socketgate:${podId}:sub`.replace(/\s/g, "_");
  const access = accessOptions(redis);
  switch (redis.kind) {
    case "standalone": {
      // A rediss:// URL turns TLS on inside ioredis as well; config.ts already records it in redis.tls.
      const url = urlWithoutOverriddenCredentials(redis.url, redis);
      return {
        kind: redis.kind,
        command: new Redis(url, { ...commandOptions(tuning, cmdName), ...access }),
        sub: new Redis(url, { ...subscriberOptions(tuning, subName), ...access }),
      };
    }
    case "sentinel": {
      const sentinel: RedisOptions = {
        sentinels: redis.sentinels,
        name: redis.name,
        sentinelRetryStrategy: backoff(tuning.maxReconnectDelayMs),
        ...(redis.sentinelPassword !== undefined ? { sentinelPassword: redis.sentinelPassword } : {}),
        // SPEC: with Sentinel, TLS covers the Sentinels and the master they name.
        ...(access.tls ? { enableTLSForSentinelMode: true, sentinelTLS: access.tls as ConnectionOptions } : {}),
      };
      return {
        kind: redis.kind,
        command: new Redis({ ...commandOptions(tuning, cmdName), ...access, ...sentinel }),
        sub: new Redis({ ...subscriberOptions(tuning, subName), ...access, ...sentinel }),
      };
    }
    case "cluster": {
      const withAccess = (o: ClusterOptions): ClusterOptions => ({ ...o, redisOptions: { ...o.redisOptions, ...access } });
      return {
        kind: redis.kind,
        command: new Cluster(redis.nodes, withAccess(clusterOptions(tuning, cmdName, false))),
        sub: new Cluster(redis.nodes, withAccess(clusterOptions(tuning, subName, true))),
      };
    }
  }
}

/** What a Redis error means for the operator: a refused credential or certificate never heals by retrying. */
export type RedisFailureCause = "auth" | "tls";

const AUTH_REPLY = /^(WRONGPASS|NOAUTH|NOPERM)\b|invalid (username-)?password|AUTH .*(without any password|failed)/i;
const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_SSL_PACKET_LENGTH_TOO_LONG",
]);

/**
 * Classifies an error from an ioredis client: `auth` for a refused user or password, `tls` for a
 * certificate that does not verify or a TLS/plaintext mismatch; undefined for ordinary outages.
 */
export function redisFailureCause(err: unknown): RedisFailureCause | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as NodeJS.ErrnoException).code;
  if (code && TLS_CODES.has(code)) return "tls";
  if (/ssl|tls|certificate/i.test(err.message) && !/ECONNREFUSED|ETIMEDOUT/.test(err.message)) return "tls";
  if (AUTH_REPLY.test(err.message)) return "auth";
  // Cluster clients wrap the node error ("Failed to refresh slots cache"): look at the cause.
  const inner = (err as { lastNodeError?: unknown; cause?: unknown }).lastNodeError ?? (err as { cause?: unknown }).cause;
  return inner && inner !== err ? redisFailureCause(inner) : undefined;
}

/** The log line for a refused credential or certificate: names the settings to check. */
export function describeRedisFailure(cause: RedisFailureCause, redis: RedisConfig): string {
  if (cause === "auth")
    return `redis refused the credentials: check REDIS_USERNAME / REDIS_PASSWORD${redis.kind === "sentinel" ? " / REDIS_SENTINEL_PASSWORD" : ""}${redis.kind === "standalone" ? " (or the user and password in REDIS_URL)" : ""}; the pod stays unready until they are accepted`;
  return `TLS to redis failed (certificate not verified or TLS/plaintext mismatch): check REDIS_TLS and REDIS_TLS_CA_FILE against the server's certificate; no plaintext fallback, the pod stays unready`;
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
