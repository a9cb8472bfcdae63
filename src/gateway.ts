// Composition root: builds each part from the config and hands it exactly what it needs.
import { randomUUID } from "node:crypto";
import { TokenExpiry } from "./auth/token-expiry.js";
import { createTokenVerifier } from "./auth/token-verifier.js";
import { createClusterServices } from "./cluster/index.js";
import { DeliveredPositions } from "./delivery/delivered-positions.js";
import { LocalDelivery } from "./delivery/local-delivery.js";
import { Resync } from "./delivery/resync.js";
import { StoreThenFanOut, type FanOutFaults } from "./delivery/message-delivery.js";
import type { ClusterServices } from "./cluster/types.js";
import type { GatewayConfig } from "./config.js";
import { GatewayLifecycle, type GatewayShutdown } from "./lifecycle/gateway-lifecycle.js";
import { Rebalancer } from "./rebalance/rebalancer.js";
import { checkUws } from "./lifecycle/startup-checks.js";
import { readMemoryLimit } from "./ops/cgroup-memory.js";
import type { Logger } from "./ops/logger.js";
import { GatewayMetrics } from "./ops/metrics.js";
import { createOpsServer, type Readiness } from "./ops/ops-server.js";
import { readinessCheck } from "./ops/readiness.js";
import { acceptConnections, connectionHandler, localPresenceEntries } from "./protocol/connection.js";
import type { EventDefinition, GatewayContext } from "./protocol/context.js";
import { InflightHandlers } from "./protocol/event-pipeline.js";
import { clientEvents } from "./protocol/index.js";
import { PresenceService, presenceServiceOptions } from "./presence/presence-service.js";
import type { GatewayServer } from "./protocol/session.js";
import { AddressRateLimit } from "./transport/address-rate-limit.js";
import { createAdmission } from "./auth/admission.js";
import { createSessionGate } from "./auth/session-gate.js";
import { registerPublicRoutes } from "./transport/public-routes.js";
import { createPublicServer } from "./transport/public-server.js";
import { loadUws } from "./transport/uws-loader.js";

export interface GatewayOptions {
  logger: Logger;
  /** Extra client events (tests inject faulty handlers through this; production passes none). */
  extraEvents?: EventDefinition[];
  /** Test suites only (SOCKETGATE_TEST_FAULTS): fan-out failures to inject after a store. */
  fanOutFaults?: FanOutFaults;
}

export interface Gateway extends GatewayShutdown {
  config: GatewayConfig;
  port: number;
  opsPort: number;
  io: GatewayServer;
  metrics: GatewayMetrics;
  cluster: ClusterServices;
  /** Dev mode only: a ready-to-use token for the quick start. */
  devToken?: string;
  readiness(): Readiness;
}

export async function startGateway(config: GatewayConfig, options: GatewayOptions): Promise<Gateway> {
  const { logger } = options;
  const loaded = loadUws();
  checkUws(loaded, config);
  if (!loaded.native) logger.error({ detail: loaded.detail }, "RUNNING ON THE SLOW uWebSockets.js JAVASCRIPT FALLBACK (ALLOW_UWS_FALLBACK=1)");

  const metrics = new GatewayMetrics();
  metrics.uwsNative.set(loaded.native ? 1 : 0);
  metrics.setUwsBuild(loaded.declared, loaded);
  metrics.connectionsMax.set(config.maxConnections);
  metrics.memoryLimit.set(readMemoryLimit());

  const verifier = createTokenVerifier(config.jwt);
  const server = createPublicServer(loaded.uws, config, metrics, logger);
  const io = server.io;
  const podId = `${process.env.HOSTNAME ?? "pod"}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const cluster = await createClusterServices(config, { metrics, logger, podId, localPresence: () => localPresenceEntries(io) });
  io.adapter(cluster.adapter);
  // After io.adapter(): local delivery wraps the adapter this namespace actually uses.
  const localDelivery = new LocalDelivery({ app: server.app, metrics });
  localDelivery.attach(io.of("/").adapter);
  // Canary probes first (they are no socket's business), then the positions the resync starts from.
  localDelivery.observe((packet, opts) => cluster.fanout.observe(packet, opts));
  const positions = new DeliveredPositions();
  localDelivery.observe(positions.observe);
  const resync = new Resync(io, cluster, positions, logger.child({ component: "resync" }));
  resync.track(io.of("/").adapter);
  cluster.fanout.onRecovered((interruption) => void resync.request(interruption));
  cluster.fanout.watch(io.of("/").adapter);
  const delivery = new StoreThenFanOut(io, cluster, metrics, logger, options.fanOutFaults);
  const presence = new PresenceService(cluster.presence, io, presenceServiceOptions(config), logger);
  presence.start();

  // Its flags are read by readiness and admission below; it is bound to the parts it stops once they all exist.
  const lifecycle = new GatewayLifecycle({ delayMs: config.drainDelayMs, windowMs: config.drainWindowMs, logger });
  const expiry = new TokenExpiry({ clockToleranceS: config.jwt.clockToleranceS, graceMs: config.tokenRefreshGraceMs, metrics, logger });
  const ctx: GatewayContext = { config, io, cluster, delivery, metrics, logger, presence, tokens: { verifier, expiry } };
  const inflight = new InflightHandlers();
  metrics.engineSessionCount = () => io.engine.clientsCount;
  // Engine.IO sessions hold the capacity slots (and meet the per-address rate) from their handshake on.
  server.admitSessions(
    createSessionGate({
      maxConnections: config.maxConnections,
      trustProxyHops: config.trustProxyHops,
      ledger: server.ledger,
      addressRateLimit: new AddressRateLimit({ ratePerS: config.connRatePerAddressPerS, burst: config.connRateBurst }),
      engineSessions: () => io.engine.clientsCount,
    }),
  );
  const admission = createAdmission({
    verifier,
    kicks: cluster.kicks,
    ledger: server.ledger,
    logger,
    trustProxyHops: config.trustProxyHops,
    rateLimitEventsPerS: config.rateLimitEventsPerS,
    rateLimitBurst: config.rateLimitBurst,
    isDraining: lifecycle.isListenerClosed,
  });
  acceptConnections(io, admission, connectionHandler(clientEvents(options.extraEvents), ctx, inflight));
  // The demo's one-click dev tokens: dev mode only (no key material), never under NODE_ENV=production.
  registerPublicRoutes(server.app, ctx, config.nodeEnv !== "production" ? verifier.issueDevToken : undefined);

  server.backpressure.start();

  const readiness = readinessCheck({
    isDraining: lifecycle.isDraining,
    clusterHealthy: () => cluster.isHealthy(),
    fanoutHealthy: () => cluster.fanout.isHealthy(),
    // Engine.IO sessions, not just connected sockets: half-open sessions hold capacity slots too.
    connected: () => io.engine.clientsCount,
    maxConnections: config.maxConnections,
  });
  // Cluster mode only: embedded mode has no fleet to compare with.
  const rebalancer =
    cluster.mode === "redis"
      ? new Rebalancer({
          podId,
          io,
          fleet: cluster.fleetLoad,
          settings: config.rebalance,
          enabled: config.rebalance.enabled,
          eligible: () => {
            const r = readiness();
            return r.ready || r.reason === "at_capacity";
          },
          inflightOf: (socket) => inflight.of(socket),
          presenceGraceMs: config.presenceGraceMs,
          metrics,
          logger,
        })
      : undefined;
  // What /readyz answers is also what tells the rebalancer that the Service can see this pod.
  const probedReadiness = (): Readiness => {
    const r = readiness();
    if (r.ready) rebalancer?.readinessServed();
    return r;
  };
  const ops = createOpsServer(metrics, probedReadiness, (err) => logger.error({ err }, "metrics rendering failed"));
  const opsPort = await ops.listen(config.host, config.opsPort);
  const port = await server.listen();
  rebalancer?.start();

  const devToken = verifier.issueDevToken ? await verifier.issueDevToken("dev-user") : undefined;
  if (devToken)
    logger.warn(
      { devToken, userId: "dev-user" },
      "DEV MODE: no JWT key configured; tokens are signed with a random secret of this process. Use this token as auth.token.",
    );
  logger.info(
    {
      port,
      opsPort,
      mode: cluster.mode,
      uws: { build: loaded.build, version: loaded.version, native: loaded.native, detail: loaded.detail },
      node: process.version,
      auth: verifier.mode,
      maxConnections: config.maxConnections,
    },
    "socketgate listening",
  );

  const shutdown = lifecycle.bind({ server, io, metrics, rebalancer, presence, inflight, localDelivery, cluster, ops });
  return {
    config,
    port,
    opsPort,
    io,
    metrics,
    cluster,
    ...(devToken ? { devToken } : {}),
    readiness,
    drain: shutdown.drain,
    close: shutdown.close,
  };
}
