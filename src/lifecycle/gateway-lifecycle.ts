// The gateway's shutdown: the draining flags its gates read, and the SIGTERM drain and the immediate close of the parts it stops.
import type { ClusterServices } from "../cluster/types.js";
import type { LocalDelivery } from "../delivery/local-delivery.js";
import type { Logger } from "../ops/logger.js";
import type { GatewayMetrics } from "../ops/metrics.js";
import type { OpsServer } from "../ops/ops-server.js";
import { flushTracing } from "../ops/tracing.js";
import type { PresenceService } from "../presence/presence-service.js";
import type { InflightHandlers } from "../protocol/event-pipeline.js";
import type { GatewayServer } from "../protocol/session.js";
import type { Rebalancer } from "../rebalance/rebalancer.js";
import type { PublicServer } from "../transport/public-server.js";
import { drain } from "./drain.js";

export interface LifecycleSettings {
  /** DRAIN_DELAY_MS: from SIGTERM to the listener's close. */
  delayMs: number;
  /** DRAIN_WINDOW_MS: the span over which client transports are closed. */
  windowMs: number;
  logger: Logger;
}

/** What the shutdown stops, narrowed to the members it touches. */
export interface LifecycleParts {
  server: Pick<PublicServer, "refuseNewSessions" | "closeListener" | "backpressure">;
  io: GatewayServer;
  metrics: Pick<GatewayMetrics, "draining">;
  /** Cluster mode only. */
  rebalancer: Pick<Rebalancer, "stop"> | undefined;
  presence: Pick<PresenceService, "settle" | "stop">;
  inflight: Pick<InflightHandlers, "settle">;
  localDelivery: Pick<LocalDelivery, "close">;
  cluster: Pick<ClusterServices, "close">;
  ops: Pick<OpsServer, "close">;
}

export interface GatewayShutdown {
  /** The SIGTERM sequence (lifecycle/drain.ts); resolves when everything is flushed. */
  drain(): Promise<void>;
  /** Immediate close (tests, forced shutdown): no spreading, no waiting for clients. */
  close(): Promise<void>;
}

/**
 * Created before the gates that read its flags (readiness, admission), bound to the parts once they all
 * exist. Whichever of drain() and close() comes first runs; later calls get the same promise.
 */
export class GatewayLifecycle {
  // At SIGTERM readiness flips and new Engine.IO sessions are refused at the transport (HTTP 503 DRAINING,
  // markDraining): socket.io-client retries that with its own backoff, through the balancer, to another pod.
  // A CONNECT on a session opened before the signal is admitted until the listener closes (then it is moved
  // by the drain like every other socket); after that it closes the transport, which is retried too.
  private draining = false;
  private listenerClosed = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly settings: LifecycleSettings) {}

  /** Readiness: not ready from SIGTERM on. */
  readonly isDraining = (): boolean => this.draining;
  /** Admission: a CONNECT is refused once the listener is closed. */
  readonly isListenerClosed = (): boolean => this.listenerClosed;

  /** Binds drain() and close() to the parts they stop; called once, when every part exists. */
  bind(parts: LifecycleParts): GatewayShutdown {
    const { server, io, metrics, rebalancer, presence, inflight, localDelivery, cluster, ops } = parts;
    const markDraining = () => {
      this.draining = true;
      // Leave the fleet view at once (the others' mean must not wait for the TTL) and stop shedding: the drain moves everyone.
      void rebalancer?.stop();
      server.refuseNewSessions();
      metrics.draining.set(1);
    };
    const closeListener = () => {
      this.listenerClosed = true;
      server.closeListener();
    };
    const closeResources = async () => {
      server.backpressure.stop();
      await rebalancer?.stop();
      presence.stop();
      // Closes every socket and the namespaces' adapters; the uWS listener is closed through its own token.
      void io.close();
      localDelivery.close();
      await cluster.close();
      await flushTracing();
      await ops.close();
    };
    const localSockets = () => [...io.of("/").sockets.values()];

    return {
      drain: () =>
        (this.closing ??= drain({
          ...this.settings,
          markDraining,
          closeListener,
          localSockets,
          settleWork: async () => {
            await inflight.settle();
            await presence.settle();
          },
          closeResources,
        })),
      close: () =>
        (this.closing ??= (async () => {
          markDraining();
          closeListener();
          for (const socket of localSockets()) socket.conn.close();
          await closeResources();
        })()),
    };
  }
}
