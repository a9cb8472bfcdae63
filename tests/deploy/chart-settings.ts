// Which chart value sets each gateway setting (a route), which settings the chart leaves out on
// purpose (with the reason), and how to read the environment a rendered pod would get.
import { settingsMarkdown } from "../../src/config.js";
import { findOne, type K8sObject } from "./lib.js";

/** The gateway's settings and defaults, read from the generated README configuration table (as tests/unit/readme.test.ts does). */
export function gatewaySettings(): { name: string; def: string | undefined }[] {
  const rows = settingsMarkdown()
    .split("\n")
    .map((line) => /^\| `([A-Z0-9_]+)` \| `--[a-z0-9-]+` \| (?:`([^`]*)`|\(unset\)) \|/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null);
  return rows.map((m) => ({ name: m[1]!, def: m[2] }));
}

/** Settings a production chart must never set, whatever the route (the chart refuses them in extraConfig / extraEnv too). */
export const EXCLUDED: Record<string, string> = {
  NODE_ENV: "the image sets production, which requires key material; development and test relax checks a cluster must keep",
  DEMO: "serves the unauthenticated demo page: local development only",
  SOCKETGATE_TEST_FAULTS: "fault-injection events of the test suites (the gateway refuses it unless NODE_ENV=test)",
};

/**
 * A route: the named value that sets the setting, a non-default value for it, what the pod's
 * variable must then be, and the values it needs around it (a Redis mode, a JWT mode ...).
 */
export type Route = { value: string; set: unknown; expect: string; base?: object[] };

const sentinel = { redis: { mode: "sentinel", sentinels: ["s-0.redis:26379"] } };
const sentinelTls = { redis: { ...sentinel.redis, tls: { enabled: true, existingSecret: "redis-tls" } } };
const PEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";

export const ROUTES: Record<string, Route> = {
  HOST: { value: "gateway.host", set: "::", expect: "::" },
  PORT: { value: "gateway.port", set: 3001, expect: "3001" },
  OPS_PORT: { value: "gateway.opsPort", set: 9091, expect: "9091" },
  JWT_SECRET: { value: "auth.jwt.secret", set: "k".repeat(40), expect: "k".repeat(40) },
  JWT_PUBLIC_KEY_FILE: {
    value: "auth.jwt.mode",
    set: "publicKey",
    expect: "/etc/socketgate/secret/jwt-public-key.pem",
    base: [{ auth: { jwt: { publicKey: PEM } } }],
  },
  JWT_JWKS_FILE: { value: "auth.jwt.mode", set: "jwks", expect: "/etc/socketgate/secret/jwks.json", base: [{ auth: { jwt: { jwks: '{"keys":[]}' } } }] },
  JWT_AUDIENCE: { value: "auth.jwt.audience", set: "socketgate", expect: "socketgate" },
  JWT_ISSUER: { value: "auth.jwt.issuer", set: "https://auth.example.com/", expect: "https://auth.example.com/" },
  JWT_CLOCK_TOLERANCE_S: { value: "auth.jwt.clockToleranceSeconds", set: 0, expect: "0" },
  TOKEN_REFRESH_GRACE_MS: { value: "auth.tokenRefreshGraceMs", set: 60000, expect: "60000" },
  KICK_TTL_MS: { value: "auth.kickTtlMs", set: 604800000, expect: "604800000" },
  ROOMS_CLAIM_DEFAULT: { value: "auth.roomsClaimDefault", set: ["lobby", "public:*"], expect: "lobby,public:*" },
  API_KEYS: {
    value: "auth.apiKeys",
    set: ["backend-key-0123456789ab", "backend-key-ba9876543210"],
    expect: "backend-key-0123456789ab,backend-key-ba9876543210",
  },
  REDIS_URL: {
    value: "redis.url",
    set: "rediss://redis.example.internal:6380/0",
    expect: "rediss://redis.example.internal:6380/0",
    base: [{ redis: { mode: "standalone" } }],
  },
  REDIS_SENTINELS: { value: "redis.sentinels", set: ["s-0.redis:26379", "s-1.redis:26379"], expect: "s-0.redis:26379,s-1.redis:26379", base: [sentinel] },
  REDIS_SENTINEL_NAME: { value: "redis.sentinelName", set: "primary", expect: "primary", base: [sentinel] },
  REDIS_CLUSTER_NODES: { value: "redis.clusterNodes", set: ["r-0:6379", "r-1:6379"], expect: "r-0:6379,r-1:6379", base: [{ redis: { mode: "cluster" } }] },
  REDIS_USERNAME: { value: "redis.username", set: "socketgate", expect: "socketgate", base: [sentinel] },
  REDIS_PASSWORD: { value: "redis.password", set: "master-pw", expect: "master-pw", base: [sentinel] },
  REDIS_SENTINEL_PASSWORD: { value: "redis.sentinelPassword", set: "sentinel-pw", expect: "sentinel-pw", base: [sentinel] },
  REDIS_TLS: { value: "redis.tls.enabled", set: true, expect: "1", base: [sentinel] },
  REDIS_TLS_CA_FILE: {
    value: "redis.tls.existingSecret",
    set: "redis-ca",
    expect: "/etc/socketgate/redis-tls/ca.crt",
    base: [{ redis: { ...sentinel.redis, tls: { enabled: true } } }],
  },
  REDIS_TLS_CERT_FILE: {
    value: "redis.tls.certKey",
    set: "client.crt",
    expect: "/etc/socketgate/redis-tls/client.crt",
    base: [sentinelTls, { redis: { tls: { keyKey: "client.key" } } }],
  },
  REDIS_TLS_KEY_FILE: {
    value: "redis.tls.keyKey",
    set: "client.key",
    expect: "/etc/socketgate/redis-tls/client.key",
    base: [sentinelTls, { redis: { tls: { certKey: "client.crt" } } }],
  },
  REDIS_OP_TIMEOUT_MS: { value: "redis.opTimeoutMs", set: 1500, expect: "1500", base: [sentinel] },
  REDIS_STARTUP_WAIT_MS: { value: "redis.startupWaitMs", set: 30000, expect: "30000", base: [sentinel] },
  REDIS_ACK_REPLICAS: { value: "redis.ackReplicas", set: 1, expect: "1", base: [sentinel] },
  MAX_CONNECTIONS: { value: "gateway.maxConnections", set: 5000, expect: "5000" },
  MAX_PAYLOAD_BYTES: { value: "gateway.maxPayloadBytes", set: 2097152, expect: "2097152" },
  MAX_BODY_BYTES: { value: "limits.maxBodyBytes", set: 131072, expect: "131072" },
  PING_INTERVAL_MS: { value: "gateway.pingIntervalMs", set: 20000, expect: "20000" },
  PING_TIMEOUT_MS: { value: "gateway.pingTimeoutMs", set: 15000, expect: "15000" },
  CONNECT_TIMEOUT_MS: { value: "gateway.connectTimeoutMs", set: 30000, expect: "30000" },
  RATE_LIMIT_EVENTS_PER_S: { value: "gateway.rateLimit.eventsPerSecond", set: 80, expect: "80" },
  RATE_LIMIT_BURST: { value: "gateway.rateLimit.burst", set: 200, expect: "200" },
  CONN_RATE_PER_ADDRESS_PER_S: { value: "limits.connectionRate.perAddressPerSecond", set: 10, expect: "10" },
  CONN_RATE_BURST: { value: "limits.connectionRate.burst", set: 40, expect: "40" },
  MAX_ROOMS_PER_SOCKET: { value: "limits.maxRoomsPerSocket", set: 250, expect: "250" },
  HANDLER_ERROR_BUDGET: { value: "limits.handlerErrorBudget", set: 10, expect: "10" },
  SLOW_CONSUMER_BUFFER_BYTES: { value: "limits.slowConsumer.bufferBytes", set: 4194304, expect: "4194304" },
  SLOW_CONSUMER_GRACE_MS: { value: "limits.slowConsumer.graceMs", set: 0, expect: "0" },
  PRESENCE_GRACE_MS: { value: "gateway.presenceGraceMs", set: 4000, expect: "4000" },
  PRESENCE_TTL_MS: { value: "presence.ttlMs", set: 30000, expect: "30000" },
  PRESENCE_FULL_MAX_USERS: { value: "presence.fullMaxUsers", set: 500, expect: "500" },
  OCCUPANCY_INTERVAL_MS: { value: "presence.occupancyIntervalMs", set: 5000, expect: "5000" },
  INBOX_MAX_LENGTH: { value: "delivery.inboxMaxLength", set: 5000, expect: "5000" },
  INBOX_MAX_AGE_MS: { value: "delivery.inboxMaxAgeMs", set: 2592000000, expect: "2592000000" },
  HISTORY_MAX_LENGTH: { value: "delivery.historyMaxLength", set: 0, expect: "0" },
  HISTORY_TTL_MS: { value: "delivery.historyTtlMs", set: 86400000, expect: "86400000" },
  MAX_ANSWER_BYTES: { value: "limits.maxAnswerBytes", set: 524288, expect: "524288" },
  IDEMPOTENCY_TTL_MS: { value: "delivery.idempotencyTtlMs", set: 3600000, expect: "3600000" },
  DRAIN_DELAY_MS: { value: "drain.delayMs", set: 1000, expect: "1000" },
  DRAIN_WINDOW_MS: { value: "drain.windowMs", set: 30000, expect: "30000" },
  DRAIN_TIMEOUT_MS: { value: "drain.timeoutMs", set: 60000, expect: "60000" },
  REBALANCE: { value: "rebalance.enabled", set: false, expect: "0" },
  REBALANCE_TOLERANCE: { value: "rebalance.tolerance", set: 0.5, expect: "0.5" },
  REBALANCE_AFTER_MS: { value: "rebalance.afterMs", set: 30000, expect: "30000" },
  REBALANCE_MAX_PER_S: { value: "rebalance.maxPerSecond", set: 5, expect: "5" },
  CORS_ORIGINS: {
    value: "gateway.corsOrigins",
    set: ["https://app.example.com", "https://admin.example.com"],
    expect: "https://app.example.com,https://admin.example.com",
  },
  TRUST_PROXY_HOPS: { value: "gateway.trustProxyHops", set: 2, expect: "2" },
  LOG_LEVEL: { value: "gateway.logLevel", set: "warn", expect: "warn" },
  ALLOW_UWS_FALLBACK: { value: "gateway.allowUwsFallback", set: true, expect: "1" },
};

/** { a: { b: value } } from "a.b". */
export function valueAt(path: string, value: unknown): object {
  return path
    .split(".")
    .reverse()
    .reduce<unknown>((inner, key) => ({ [key]: inner }), value) as object;
}

type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } };

/**
 * The environment the gateway container would start with: the ConfigMaps of envFrom, then env
 * (later wins, as in Kubernetes), secretKeyRefs read from the Secrets rendered with the chart.
 * A reference to a Secret the chart does not render (existingSecret) is left out.
 */
export function podEnvironment(docs: K8sObject[]): Record<string, string> {
  const c = findOne(docs, "Deployment").spec.template.spec.containers[0];
  const env: Record<string, string> = {};
  for (const from of (c.envFrom ?? []) as { configMapRef?: { name: string } }[]) {
    const cm = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name === from.configMapRef?.name);
    Object.assign(env, cm?.data ?? {});
  }
  for (const e of (c.env ?? []) as EnvVar[]) {
    if (e.value !== undefined) env[e.name] = e.value;
    const ref = e.valueFrom?.secretKeyRef;
    if (!ref) continue;
    const b64 = docs.find((d) => d.kind === "Secret" && d.metadata.name === ref.name)?.data?.[ref.key];
    if (b64 !== undefined) env[e.name] = Buffer.from(b64, "base64").toString();
  }
  return env;
}

/** Whether a file path lands in a volume of the pod that carries that file (secret items). */
export function mountedFile(docs: K8sObject[], path: string): boolean {
  const spec = findOne(docs, "Deployment").spec.template.spec;
  const mount = (spec.containers[0].volumeMounts as { name: string; mountPath: string }[]).find((m) => path.startsWith(`${m.mountPath}/`));
  if (!mount) return false;
  const volume = (spec.volumes as { name: string; secret?: { items?: { path: string }[] } }[]).find((v) => v.name === mount.name);
  return volume?.secret?.items?.some((i) => i.path === path.slice(mount.mountPath.length + 1)) ?? false;
}

/** The docs/operations.md table of chart values and the variables they set, generated from ROUTES. */
export function chartValuesMarkdown(): string {
  const byValue = new Map<string, string[]>();
  for (const [name, r] of Object.entries(ROUTES)) byValue.set(r.value, [...(byValue.get(r.value) ?? []), name]);
  const rows = [...byValue].map(([value, names]) => `| \`${value}\` | ${names.map((n) => `\`${n}\``).join(", ")} |`);
  const excluded = Object.entries(EXCLUDED).map(([name, why]) => `| (none) | \`${name}\`: ${why} |`);
  return ["<!-- chart-values:begin -->", "| chart value | gateway variable |", "|---|---|", ...rows, ...excluded, "<!-- chart-values:end -->"].join("\n");
}
