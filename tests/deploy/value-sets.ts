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
} satisfies Record<string, object[]>;
