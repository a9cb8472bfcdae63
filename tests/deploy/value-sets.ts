// Value sets the chart is rendered with in tests, on top of values.yaml. Each stands for a way
// the chart is really installed; every one must render, pass values.schema.json and validate.
export const valueSets = {
  defaults: [],
  // Cluster mode behind ingress-nginx, HPA on CPU + connections, API keys, fixed JWT secret.
  production: [
    {
      redis: { mode: "sentinel", sentinels: ["redis-sentinel-0.redis:26379", "redis-sentinel-1.redis:26379"], sentinelName: "mymaster" },
      autoscaling: { enabled: true },
      auth: { jwt: { secret: "0123456789abcdef0123456789abcdef" }, apiKeys: ["backend-key-0123456789abcdef"] },
      gateway: { corsOrigins: ["https://app.example.com"], trustProxyHops: 1, extraConfig: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel-collector:4318" } },
      metrics: { serviceMonitor: { enabled: true, additionalLabels: { release: "kube-prometheus-stack" } } },
      alerts: { enabled: true },
    },
  ],
  keda: [
    {
      redis: { mode: "cluster", clusterNodes: ["redis-0.redis:6379", "redis-1.redis:6379", "redis-2.redis:6379"] },
      autoscaling: { keda: { enabled: true } },
      metrics: { podMonitor: { enabled: true } },
      alerts: { enabled: true },
    },
  ],
  // Managed Redis (e.g. a cloud Redis Cluster): ACL user, passwords from a Secret the platform
  // manages, TLS with a mounted CA and a client certificate.
  managedRedis: [
    {
      redis: {
        mode: "cluster",
        clusterNodes: ["clustercfg.redis.example.internal:6379"],
        username: "socketgate",
        existingSecret: "redis-credentials",
        existingSecretPasswordKey: "password",
        tls: { enabled: true, existingSecret: "redis-ca", caKey: "ca.crt", certKey: "tls.crt", keyKey: "tls.key" },
        opTimeoutMs: 1500,
        startupWaitMs: 30000,
      },
      replicaCount: 2,
      auth: { jwt: { generate: false, secret: "0123456789abcdef0123456789abcdef" } },
    },
  ],
  sentinelPasswords: [
    {
      redis: { mode: "sentinel", sentinels: ["s-0:26379"], password: "master-pw", sentinelPassword: "sentinel-pw", tls: { enabled: true } },
    },
  ],
  // Every pod extension point at once, with NetworkPolicy narrowed to one monitoring namespace.
  extensions: [
    {
      envFrom: [{ secretRef: { name: "otel-credentials" } }],
      extraVolumes: [{ name: "extra-ca", configMap: { name: "corporate-ca" } }],
      extraVolumeMounts: [{ name: "extra-ca", mountPath: "/etc/ssl/corporate", readOnly: true }],
      initContainers: [{ name: "wait", image: "busybox:1.36", command: ["true"] }],
      sidecars: [{ name: "log-shipper", image: "fluent/fluent-bit:3.0" }],
      podAnnotations: { "vault.hashicorp.com/agent-inject": "true" },
      gateway: { extraEnv: [{ name: "OTEL_SERVICE_NAME", value: "socketgate" }] },
      networkPolicy: { metricsFrom: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }] },
    },
  ],
  ingress: [
    {
      redis: { mode: "standalone", url: "redis://:pw@redis-master:6379/0" },
      replicaCount: 3,
      ingress: {
        enabled: true,
        hosts: [{ host: "rt.example.com", paths: [{ path: "/", pathType: "Prefix" }] }],
        tls: [{ secretName: "rt-tls", hosts: ["rt.example.com"] }],
      },
    },
  ],
  existingSecret: [
    {
      auth: { existingSecret: "socketgate-credentials", jwt: { mode: "publicKey" } },
      redis: { mode: "standalone" },
      replicaCount: 2,
      networkPolicy: { httpFrom: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } }] },
    },
  ],
  jwks: [
    {
      auth: { jwt: { mode: "jwks", jwks: '{"keys":[]}' } },
      drain: { preStopSleepSeconds: 0, delayMs: 5000, windowMs: 60000, flushMarginSeconds: 15 },
      metrics: { serviceMonitor: { enabled: false } },
      alerts: { enabled: false },
      dashboards: { enabled: false },
      networkPolicy: { enabled: false },
      podDisruptionBudget: { enabled: false },
    },
  ],
  // Every gateway setting with a named value, each set to something other than the gateway's
  // default (0 and false included, where they mean something): Sentinel with both passwords, an
  // ACL user, TLS with a client certificate, replica acknowledgement, a drain deadline.
  allSettings: [
    {
      replicaCount: 3,
      gateway: {
        host: "::",
        port: 3001,
        opsPort: 9091,
        maxConnections: 5000,
        maxPayloadBytes: 2097152,
        pingIntervalMs: 20000,
        pingTimeoutMs: 15000,
        connectTimeoutMs: 30000,
        rateLimit: { eventsPerSecond: 80, burst: 200 },
        presenceGraceMs: 4000,
        corsOrigins: ["https://app.example.com", "https://admin.example.com"],
        trustProxyHops: 2,
        logLevel: "warn",
        allowUwsFallback: true,
      },
      limits: {
        maxBodyBytes: 131072,
        maxAnswerBytes: 524288,
        maxRoomsPerSocket: 250,
        handlerErrorBudget: 10,
        connectionRate: { perAddressPerSecond: 10, burst: 40 },
        slowConsumer: { bufferBytes: 4194304, graceMs: 0 },
      },
      presence: { ttlMs: 30000, fullMaxUsers: 500, occupancyIntervalMs: 5000 },
      delivery: { historyMaxLength: 0, historyTtlMs: 86400000, inboxMaxLength: 5000, inboxMaxAgeMs: 2592000000, idempotencyTtlMs: 3600000 },
      drain: { delayMs: 1000, windowMs: 30000, timeoutMs: 60000 },
      rebalance: { enabled: false, tolerance: 0.5, afterMs: 30000, maxPerSecond: 5 },
      auth: {
        jwt: { secret: "k".repeat(40), audience: "socketgate", issuer: "https://auth.example.com/", clockToleranceSeconds: 0 },
        roomsClaimDefault: ["lobby", "public:*"],
        tokenRefreshGraceMs: 60000,
        kickTtlMs: 604800000,
        apiKeys: ["backend-key-0123456789ab", "backend-key-ba9876543210"],
      },
      redis: {
        mode: "sentinel",
        sentinels: ["s-0.redis:26379", "s-1.redis:26379"],
        sentinelName: "primary",
        username: "socketgate",
        password: "master-pw",
        sentinelPassword: "sentinel-pw",
        tls: { enabled: true, existingSecret: "redis-ca", certKey: "client.crt", keyKey: "client.key" },
        opTimeoutMs: 1500,
        startupWaitMs: 30000,
        ackReplicas: 1,
      },
    },
  ],
} satisfies Record<string, object[]>;
