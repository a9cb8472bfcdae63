// One schema for every setting: environment variables, the matching CLI flags, defaults,
// and start-up errors that name the variable, the value and what is allowed.
import { z } from "zod";

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, `an integer from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `an integer from ${min} to ${max}`).max(max, `an integer from ${min} to ${max}`));

const decimal = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, `a number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().min(min, `a number from ${min} to ${max}`).max(max, `a number from ${min} to ${max}`));

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ["1", "0", "true", "false", "yes", "no"].includes(v), "one of 1, 0, true, false, yes, no")
  .transform((v) => v === "1" || v === "true" || v === "yes");

const list = (item: z.ZodType<string, string>, what: string) =>
  z
    .string()
    .transform((v) =>
      v
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    )
    .pipe(z.array(item, what));

const hostPort = z.string().regex(/^[A-Za-z0-9.[\]:-]+:\d{1,5}$/, "host:port");
const origin = z.string().regex(/^(\*|https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?)$/, "an origin such as https://app.example.com, or *");
const apiKey = z.string().min(16, "keys of at least 16 characters").max(256, "keys of at most 256 characters");
const filePath = z.string().min(1, "a file path").max(4096, "a file path");

/**
 * Every setting: its variable, its default (as the string a user would write) and its schema.
 * Flags are derived from the variable name: MAX_CONNECTIONS <-> --max-connections.
 */
const SETTINGS = {
  NODE_ENV: { def: "development", schema: z.enum(["development", "production", "test"]), help: "production requires key material" },
  HOST: { def: "0.0.0.0", schema: z.string().regex(/^[0-9a-fA-F.:]+$/, "an IP address to bind"), help: "bind address of both listeners" },
  PORT: { def: "3000", schema: int(0, 65535), help: "public listener (Socket.IO, backend API, /health)" },
  OPS_PORT: { def: "9090", schema: int(0, 65535), help: "metrics, liveness, readiness" },
  JWT_SECRET: { def: undefined, schema: z.string().min(32, "a secret of at least 32 characters").max(4096, "at most 4096 characters"), help: "HS256 secret" },
  JWT_PUBLIC_KEY_FILE: { def: undefined, schema: filePath, help: "PEM public key (RS256 / ES256)" },
  JWT_JWKS_FILE: { def: undefined, schema: filePath, help: "JWKS JSON file (RS256 / ES256 keys)" },
  JWT_AUDIENCE: { def: undefined, schema: z.string().min(1).max(512), help: "when set, a token's aud must include it" },
  JWT_ISSUER: { def: undefined, schema: z.string().min(1).max(512), help: "when set, a token's iss must equal it" },
  JWT_CLOCK_TOLERANCE_S: { def: "5", schema: int(0, 300), help: "clock skew tolerated on exp / nbf" },
  TOKEN_REFRESH_GRACE_MS: {
    def: "30000",
    schema: int(0, 3_600_000),
    help: "after a socket's token expires (exp + JWT_CLOCK_TOLERANCE_S) its events answer AUTH_EXPIRED; without auth:refresh within this it is disconnected",
  },
  KICK_TTL_MS: {
    def: "86400000",
    schema: int(60_000, 365 * 24 * 3600 * 1000),
    help: "POST /v1/disconnect refuses the user's tokens issued before the kick for this long; set it to at least the longest token lifetime",
  },
  ROOMS_CLAIM_DEFAULT: {
    def: undefined,
    schema: list(z.string().regex(/^[A-Za-z0-9._:@-]{0,128}\*?$/, "a room pattern"), "comma-separated room patterns"),
    help: "rooms a token without a rooms claim may join; unset = none (* = all)",
  },
  API_KEYS: { def: undefined, schema: list(apiKey, "comma-separated keys"), help: "bearer keys for the backend API; unset disables it" },
  REDIS_URL: { def: undefined, schema: z.string().regex(/^rediss?:\/\/\S+$/, "a redis:// or rediss:// URL"), help: "standalone Redis: cluster mode" },
  REDIS_SENTINELS: { def: undefined, schema: list(hostPort, "comma-separated host:port"), help: "Sentinel addresses" },
  REDIS_SENTINEL_NAME: { def: undefined, schema: z.string().min(1).max(128), help: "Sentinel master name" },
  REDIS_CLUSTER_NODES: { def: undefined, schema: list(hostPort, "comma-separated host:port"), help: "Redis Cluster seed nodes" },
  REDIS_USERNAME: {
    def: undefined,
    schema: z.string().min(1).max(256, "at most 256 characters"),
    help: "Redis ACL user, every mode (overrides a user in REDIS_URL)",
  },
  REDIS_PASSWORD: {
    def: undefined,
    schema: z.string().min(1).max(4096, "at most 4096 characters"),
    help: "Redis password, every mode (overrides a password in REDIS_URL)",
  },
  REDIS_SENTINEL_PASSWORD: {
    def: undefined,
    schema: z.string().min(1).max(4096, "at most 4096 characters"),
    help: "password of the Sentinels themselves (their requirepass)",
  },
  REDIS_TLS: { def: "0", schema: bool, help: "TLS to Redis in every mode (Sentinels and master included); a rediss:// REDIS_URL turns it on" },
  REDIS_TLS_CA_FILE: { def: undefined, schema: filePath, help: "PEM CA bundle that verifies Redis' certificate; unset = the system CAs" },
  REDIS_TLS_CERT_FILE: { def: undefined, schema: filePath, help: "PEM client certificate (mutual TLS), with REDIS_TLS_KEY_FILE" },
  REDIS_TLS_KEY_FILE: { def: undefined, schema: filePath, help: "PEM client key (mutual TLS), with REDIS_TLS_CERT_FILE" },
  REDIS_OP_TIMEOUT_MS: { def: "2500", schema: int(100, 600_000), help: "deadline of one Redis store operation; past it the client gets UNAVAILABLE" },
  REDIS_STARTUP_WAIT_MS: {
    def: "10000",
    schema: int(0, 600_000),
    help: "start-up waits this long for Redis, then starts unready (readiness 503) until it answers",
  },
  REDIS_ACK_REPLICAS: {
    def: "0",
    schema: int(0, 16),
    help: "acknowledge a stored message only once this many replicas have it (WAIT, 1 s); too few: UNAVAILABLE (retryable)",
  },
  MAX_CONNECTIONS: { def: "1000", schema: int(1, 1_000_000), help: "connections per pod" },
  MAX_PAYLOAD_BYTES: { def: "1048576", schema: int(1024, 64 * 1024 * 1024), help: "largest packet or API body" },
  MAX_BODY_BYTES: {
    def: "65536",
    schema: int(64, 64 * 1024 * 1024),
    help: "largest message body or API data, serialised, binary attachments included; nested at most 32 levels",
  },
  PING_INTERVAL_MS: { def: "25000", schema: int(1000, 600_000), help: "heartbeat interval" },
  PING_TIMEOUT_MS: { def: "20000", schema: int(1000, 600_000), help: "heartbeat timeout" },
  CONNECT_TIMEOUT_MS: { def: "60000", schema: int(1000, 600_000), help: "time to complete the Socket.IO handshake" },
  RATE_LIMIT_EVENTS_PER_S: { def: "50", schema: int(1, 100_000), help: "sustained events per socket" },
  RATE_LIMIT_BURST: { def: "100", schema: int(1, 1_000_000), help: "event burst per socket" },
  CONN_RATE_PER_ADDRESS_PER_S: {
    def: "0",
    schema: int(0, 100_000),
    help: "new connections per second per client address; 0 = off (set TRUST_PROXY_HOPS first behind a proxy)",
  },
  CONN_RATE_BURST: { def: "20", schema: int(1, 1_000_000), help: "connections one address may open at once before CONN_RATE_PER_ADDRESS_PER_S applies" },
  MAX_ROOMS_PER_SOCKET: { def: "100", schema: int(1, 100_000), help: "rooms one socket may join" },
  HANDLER_ERROR_BUDGET: { def: "5", schema: int(1, 10_000), help: "handler failures before a socket is disconnected" },
  SLOW_CONSUMER_BUFFER_BYTES: { def: "1048576", schema: int(16 * 1024, 1024 * 1024 * 1024), help: "buffered bytes that mark a socket slow" },
  SLOW_CONSUMER_GRACE_MS: { def: "3000", schema: int(0, 600_000), help: "how long a socket may stay slow before it is cut" },
  PRESENCE_GRACE_MS: { def: "2000", schema: int(0, 600_000), help: "how long a user stays online after their last device leaves" },
  PRESENCE_TTL_MS: { def: "15000", schema: int(1000, 600_000), help: "cluster mode: a crashed pod's presence entries expire after this" },
  PRESENCE_FULL_MAX_USERS: {
    def: "200",
    schema: int(1, 100_000),
    help: "rooms above this many users get occupancy counts instead of per-user presence; also the user-list page size",
  },
  OCCUPANCY_INTERVAL_MS: {
    def: "2000",
    schema: int(100, 600_000),
    help: "big rooms: at most one presence:occupancy per room this often while the count changes",
  },
  INBOX_MAX_LENGTH: { def: "1000", schema: int(1, 1_000_000), help: "direct messages kept per user" },
  INBOX_MAX_AGE_MS: { def: "604800000", schema: int(1000, 365 * 24 * 3600 * 1000), help: "direct messages older than this are trimmed" },
  HISTORY_MAX_LENGTH: { def: "500", schema: int(0, 1_000_000), help: "room messages kept for catch-up" },
  HISTORY_TTL_MS: {
    def: "604800000",
    schema: int(1000, 365 * 24 * 3600 * 1000),
    help: "a room's history is dropped this long after its last message (its next message starts a new epoch)",
  },
  MAX_ANSWER_BYTES: {
    def: "1048576",
    schema: int(16 * 1024, 64 * 1024 * 1024),
    help: "catch-up and message:unacked answers carry at most this many serialised bytes and paginate",
  },
  IDEMPOTENCY_TTL_MS: { def: "600000", schema: int(1000, 7 * 24 * 3600 * 1000), help: "how long clientMsgId / idempotencyKey suppress duplicates" },
  DRAIN_DELAY_MS: { def: "3000", schema: int(0, 600_000), help: "SIGTERM: wait before closing the listener" },
  DRAIN_WINDOW_MS: { def: "20000", schema: int(0, 3_600_000), help: "SIGTERM: spread the closes over this window" },
  DRAIN_TIMEOUT_MS: { def: "0", schema: int(0, 3_600_000), help: "SIGTERM: hard deadline; 0 = delay + window + presence grace + 5 s" },
  REBALANCE: { def: "1", schema: bool, help: "cluster mode: pods above the fleet mean shed connections to the others (inert in embedded mode)" },
  REBALANCE_TOLERANCE: { def: "0.2", schema: decimal(0.01, 10), help: "shed when holding more than the fleet mean x (1 + this)" },
  REBALANCE_AFTER_MS: { def: "10000", schema: int(0, 3_600_000), help: "how long a pod must stay above that line, without a break, before it sheds" },
  REBALANCE_MAX_PER_S: { def: "20", schema: int(1, 10_000), help: "sockets one pod sheds per second at most" },
  CORS_ORIGINS: { def: undefined, schema: list(origin, "comma-separated origins"), help: "allowed browser origins (same origin is always allowed)" },
  TRUST_PROXY_HOPS: { def: "0", schema: int(0, 10), help: "X-Forwarded-For hops to trust" },
  LOG_LEVEL: { def: "info", schema: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]), help: "pino level" },
  ALLOW_UWS_FALLBACK: { def: "0", schema: bool, help: "start even on uWS's slow JavaScript fallback" },
  DEMO: { def: "0", schema: bool, help: "serve the demo page at /demo" },
  SOCKETGATE_TEST_FAULTS: {
    def: "0",
    schema: bool,
    help: "test suites only (refused unless NODE_ENV=test): adds the fault events test:throw, test:reject, test:slow, test:fail-fanout",
  },
} as const;

type Settings = typeof SETTINGS;
export type SettingName = keyof Settings;
type Parsed = { [K in SettingName]: Settings[K]["def"] extends string ? z.output<Settings[K]["schema"]> : z.output<Settings[K]["schema"]> | undefined };

/** Credentials and TLS that apply to every Redis mode (managed Redis needs at least one of them). */
export interface RedisAccess {
  username?: string;
  password?: string;
  /** The Sentinels' own password (Sentinel mode only). */
  sentinelPassword?: string;
  /** Present = TLS on every connection (never a plaintext fallback); files are PEM paths. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

export type RedisConfig = (
  | { kind: "standalone"; url: string }
  | { kind: "sentinel"; sentinels: Array<{ host: string; port: number }>; name: string }
  | { kind: "cluster"; nodes: Array<{ host: string; port: number }> }
) &
  RedisAccess;

export interface GatewayConfig {
  nodeEnv: Parsed["NODE_ENV"];
  host: string;
  port: number;
  opsPort: number;
  jwt: { secret?: string; publicKeyFile?: string; jwksFile?: string; audience?: string; issuer?: string; clockToleranceS: number; roomsDefault: string[] };
  /** TOKEN_REFRESH_GRACE_MS: how long an expired socket may still refresh before it is disconnected. */
  tokenRefreshGraceMs: number;
  /** KICK_TTL_MS: how long a kick record refuses the user's older tokens. */
  kickTtlMs: number;
  apiKeys: string[];
  redis?: RedisConfig;
  redisOpTimeoutMs: number;
  redisStartupWaitMs: number;
  maxConnections: number;
  maxPayloadBytes: number;
  maxBodyBytes: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  connectTimeoutMs: number;
  rateLimitEventsPerS: number;
  rateLimitBurst: number;
  connRatePerAddressPerS: number;
  connRateBurst: number;
  maxRoomsPerSocket: number;
  handlerErrorBudget: number;
  slowConsumerBufferBytes: number;
  slowConsumerGraceMs: number;
  presenceGraceMs: number;
  presenceTtlMs: number;
  presenceFullMaxUsers: number;
  occupancyIntervalMs: number;
  inboxMaxLength: number;
  inboxMaxAgeMs: number;
  historyMaxLength: number;
  idempotencyTtlMs: number;
  historyTtlMs: number;
  redisAckReplicas: number;
  maxAnswerBytes: number;
  drainDelayMs: number;
  drainWindowMs: number;
  drainTimeoutMs: number;
  /** Cluster mode only (embedded mode has no fleet). */
  rebalance: { enabled: boolean; tolerance: number; afterMs: number; maxPerS: number };
  corsOrigins: string[];
  trustProxyHops: number;
  logLevel: Parsed["LOG_LEVEL"];
  allowUwsFallback: boolean;
  demo: boolean;
  /** NODE_ENV=test only: register the fault-injection events of protocol/test-faults. */
  testFaults: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

export const flagOf = (name: string): string => `--${name.toLowerCase().replace(/_/g, "-")}`;
const FLAG_TO_SETTING = new Map<string, SettingName>(Object.keys(SETTINGS).map((n) => [flagOf(n), n as SettingName]));

/** Turns `--max-connections 5` / `--max-connections=5` into { MAX_CONNECTIONS: "5" }. Boolean flags may stand alone. */
export function parseFlags(argv: readonly string[]): Partial<Record<SettingName, string>> {
  const out: Partial<Record<SettingName, string>> = {};
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf("=");
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const name = FLAG_TO_SETTING.get(flag);
    if (!name) {
      problems.push(`unknown flag ${JSON.stringify(arg.slice(0, 80))}: run with --help for the list`);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--")) value = argv[++i];
    else if (SETTINGS[name].schema === bool) value = "1";
    if (value === undefined) problems.push(`${flag} needs a value`);
    else out[name] = value;
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}

const show = (v: string) => JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
const SECRET_SETTINGS = new Set<SettingName>(["JWT_SECRET", "API_KEYS", "REDIS_URL", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD"]);

/** Reads and validates every setting; flags win over environment variables. Throws ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv, argv: readonly string[] = []): GatewayConfig {
  const flags = parseFlags(argv);
  const problems: string[] = [];
  const v = {} as Record<SettingName, unknown>;
  for (const [name, spec] of Object.entries(SETTINGS) as Array<[SettingName, Settings[SettingName]]>) {
    const raw = flags[name] ?? (env[name] === "" ? undefined : env[name]) ?? spec.def;
    if (raw === undefined) continue;
    const result = (spec.schema as z.ZodType).safeParse(raw);
    if (result.success) v[name] = result.data;
    else {
      const shown = SECRET_SETTINGS.has(name) ? "(hidden)" : show(raw);
      const allowed = [...new Set(result.error.issues.map((i) => i.message))].join("; ");
      problems.push(`${name} (${flagOf(name)}) = ${shown}: expected ${allowed}`);
    }
  }
  const p = v as Parsed;
  const redis = redisConfig(p, problems);
  const keySources = [p.JWT_SECRET, p.JWT_PUBLIC_KEY_FILE, p.JWT_JWKS_FILE].filter((x) => x !== undefined);
  if (keySources.length > 1) problems.push("JWT_SECRET, JWT_PUBLIC_KEY_FILE and JWT_JWKS_FILE: set exactly one");
  if (keySources.length === 0 && p.NODE_ENV === "production")
    problems.push("JWT_SECRET / JWT_PUBLIC_KEY_FILE / JWT_JWKS_FILE: one is required when NODE_ENV=production");
  if (p.PORT !== undefined && p.PORT === p.OPS_PORT && p.PORT !== 0) problems.push(`PORT and OPS_PORT must differ (both ${p.PORT})`);
  if (p.RATE_LIMIT_BURST !== undefined && p.RATE_LIMIT_EVENTS_PER_S !== undefined && p.RATE_LIMIT_BURST < p.RATE_LIMIT_EVENTS_PER_S)
    problems.push(`RATE_LIMIT_BURST (${p.RATE_LIMIT_BURST}) must be at least RATE_LIMIT_EVENTS_PER_S (${p.RATE_LIMIT_EVENTS_PER_S})`);
  if (
    p.CONN_RATE_PER_ADDRESS_PER_S !== undefined &&
    p.CONN_RATE_BURST !== undefined &&
    p.CONN_RATE_PER_ADDRESS_PER_S > 0 &&
    p.CONN_RATE_BURST < p.CONN_RATE_PER_ADDRESS_PER_S
  )
    problems.push(`CONN_RATE_BURST (${p.CONN_RATE_BURST}) must be at least CONN_RATE_PER_ADDRESS_PER_S (${p.CONN_RATE_PER_ADDRESS_PER_S})`);
  if (p.SOCKETGATE_TEST_FAULTS && p.NODE_ENV !== "test")
    problems.push(
      `SOCKETGATE_TEST_FAULTS (${flagOf("SOCKETGATE_TEST_FAULTS")}) = 1: fault-injection events are only allowed when NODE_ENV=test (NODE_ENV is ${p.NODE_ENV ?? "unset"})`,
    );
  if (problems.length) throw new ConfigError(problems);

  return {
    nodeEnv: p.NODE_ENV,
    host: p.HOST,
    port: p.PORT,
    opsPort: p.OPS_PORT,
    jwt: {
      secret: p.JWT_SECRET,
      publicKeyFile: p.JWT_PUBLIC_KEY_FILE,
      jwksFile: p.JWT_JWKS_FILE,
      audience: p.JWT_AUDIENCE,
      issuer: p.JWT_ISSUER,
      clockToleranceS: p.JWT_CLOCK_TOLERANCE_S,
      roomsDefault: p.ROOMS_CLAIM_DEFAULT ?? [],
    },
    tokenRefreshGraceMs: p.TOKEN_REFRESH_GRACE_MS,
    kickTtlMs: p.KICK_TTL_MS,
    apiKeys: p.API_KEYS ?? [],
    redis,
    redisOpTimeoutMs: p.REDIS_OP_TIMEOUT_MS,
    redisStartupWaitMs: p.REDIS_STARTUP_WAIT_MS,
    maxConnections: p.MAX_CONNECTIONS,
    maxPayloadBytes: p.MAX_PAYLOAD_BYTES,
    maxBodyBytes: p.MAX_BODY_BYTES,
    pingIntervalMs: p.PING_INTERVAL_MS,
    pingTimeoutMs: p.PING_TIMEOUT_MS,
    connectTimeoutMs: p.CONNECT_TIMEOUT_MS,
    rateLimitEventsPerS: p.RATE_LIMIT_EVENTS_PER_S,
    rateLimitBurst: p.RATE_LIMIT_BURST,
    connRatePerAddressPerS: p.CONN_RATE_PER_ADDRESS_PER_S,
    connRateBurst: p.CONN_RATE_BURST,
    maxRoomsPerSocket: p.MAX_ROOMS_PER_SOCKET,
    handlerErrorBudget: p.HANDLER_ERROR_BUDGET,
    slowConsumerBufferBytes: p.SLOW_CONSUMER_BUFFER_BYTES,
    slowConsumerGraceMs: p.SLOW_CONSUMER_GRACE_MS,
    presenceGraceMs: p.PRESENCE_GRACE_MS,
    presenceTtlMs: p.PRESENCE_TTL_MS,
    presenceFullMaxUsers: p.PRESENCE_FULL_MAX_USERS,
    occupancyIntervalMs: p.OCCUPANCY_INTERVAL_MS,
    inboxMaxLength: p.INBOX_MAX_LENGTH,
    inboxMaxAgeMs: p.INBOX_MAX_AGE_MS,
    historyMaxLength: p.HISTORY_MAX_LENGTH,
    idempotencyTtlMs: p.IDEMPOTENCY_TTL_MS,
    historyTtlMs: p.HISTORY_TTL_MS,
    redisAckReplicas: p.REDIS_ACK_REPLICAS,
    maxAnswerBytes: p.MAX_ANSWER_BYTES,
    drainDelayMs: p.DRAIN_DELAY_MS,
    drainWindowMs: p.DRAIN_WINDOW_MS,
    // The drain waits PRESENCE_GRACE_MS after the last close before it settles presence and exits.
    drainTimeoutMs: p.DRAIN_TIMEOUT_MS || p.DRAIN_DELAY_MS + p.DRAIN_WINDOW_MS + p.PRESENCE_GRACE_MS + 5000,
    rebalance: { enabled: p.REBALANCE, tolerance: p.REBALANCE_TOLERANCE, afterMs: p.REBALANCE_AFTER_MS, maxPerS: p.REBALANCE_MAX_PER_S },
    corsOrigins: p.CORS_ORIGINS ?? [],
    trustProxyHops: p.TRUST_PROXY_HOPS,
    logLevel: p.LOG_LEVEL,
    allowUwsFallback: p.ALLOW_UWS_FALLBACK,
    demo: p.DEMO,
    testFaults: p.SOCKETGATE_TEST_FAULTS && p.NODE_ENV === "test",
  };
}

function redisConfig(p: Parsed, problems: string[]): RedisConfig | undefined {
  const chosen = [p.REDIS_URL && "REDIS_URL", p.REDIS_SENTINELS && "REDIS_SENTINELS", p.REDIS_CLUSTER_NODES && "REDIS_CLUSTER_NODES"].filter(Boolean);
  if (chosen.length > 1) {
    problems.push(`${chosen.join(", ")}: set only one way to reach Redis`);
    return undefined;
  }
  const hp = (s: string) => {
    const i = s.lastIndexOf(":");
    return { host: s.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(s.slice(i + 1)) };
  };
  const access = redisAccess(p, problems);
  if (p.REDIS_URL) return { kind: "standalone", url: p.REDIS_URL, ...access };
  if (p.REDIS_SENTINELS) {
    if (!p.REDIS_SENTINEL_NAME) {
      problems.push("REDIS_SENTINEL_NAME (--redis-sentinel-name) is required with REDIS_SENTINELS");
      return undefined;
    }
    return { kind: "sentinel", sentinels: p.REDIS_SENTINELS.map(hp), name: p.REDIS_SENTINEL_NAME, ...access };
  }
  if (p.REDIS_CLUSTER_NODES) return { kind: "cluster", nodes: p.REDIS_CLUSTER_NODES.map(hp), ...access };
  const stray = (
    ["REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE"] as const
  ).filter((n) => p[n] !== undefined);
  if (stray.length || p.REDIS_TLS)
    problems.push(
      `${[...stray, ...(p.REDIS_TLS ? ["REDIS_TLS"] : [])].join(", ")}: set REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES too (embedded mode has no Redis)`,
    );
  return undefined;
}

/** Credentials and TLS shared by every mode. TLS is on with REDIS_TLS, a rediss:// URL or any TLS file. */
function redisAccess(p: Parsed, problems: string[]): RedisAccess {
  const access: RedisAccess = {};
  if (p.REDIS_USERNAME !== undefined) access.username = p.REDIS_USERNAME;
  if (p.REDIS_PASSWORD !== undefined) access.password = p.REDIS_PASSWORD;
  if (p.REDIS_SENTINEL_PASSWORD !== undefined) {
    if (!p.REDIS_SENTINELS) problems.push("REDIS_SENTINEL_PASSWORD (--redis-sentinel-password) only applies with REDIS_SENTINELS");
    access.sentinelPassword = p.REDIS_SENTINEL_PASSWORD;
  }
  if ((p.REDIS_TLS_CERT_FILE === undefined) !== (p.REDIS_TLS_KEY_FILE === undefined))
    problems.push("REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE: set both (mutual TLS) or neither");
  const files = { caFile: p.REDIS_TLS_CA_FILE, certFile: p.REDIS_TLS_CERT_FILE, keyFile: p.REDIS_TLS_KEY_FILE };
  const anyFile = Object.values(files).some((f) => f !== undefined);
  const tlsUrl = p.REDIS_URL?.startsWith("rediss://") ?? false;
  if (p.REDIS_TLS || tlsUrl || anyFile) {
    access.tls = Object.fromEntries(Object.entries(files).filter(([, f]) => f !== undefined));
    if (anyFile && !p.REDIS_TLS && !tlsUrl) problems.push("REDIS_TLS_*_FILE is set but TLS is off: set REDIS_TLS=1 (or use a rediss:// URL)");
  }
  return access;
}

/** The --help text: every setting with its flag, default and meaning. */
export function helpText(): string {
  const rows = (Object.entries(SETTINGS) as Array<[SettingName, Settings[SettingName]]>).map(
    ([name, s]) => `  ${flagOf(name).padEnd(30)} ${name.padEnd(28)} ${(s.def ?? "(unset)").padEnd(12)} ${s.help}`,
  );
  return ["usage: socketgate [flags]   (every flag also reads from its environment variable)", "", ...rows, ""].join("\n");
}

/** The README's configuration table, generated from the same table the parser uses (a test keeps them equal). */
export function settingsMarkdown(): string {
  const rows = (Object.entries(SETTINGS) as Array<[SettingName, Settings[SettingName]]>).map(
    ([name, s]) => `| \`${name}\` | \`${flagOf(name)}\` | ${s.def === undefined ? "(unset)" : `\`${s.def}\``} | ${s.help} |`,
  );
  return ["<!-- config:begin -->", "| variable | flag | default | meaning |", "|---|---|---|---|", ...rows, "<!-- config:end -->"].join("\n");
}
