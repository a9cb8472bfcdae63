// Readiness of this pod (GET /readyz on the ops port): the reasons a balancer should stop sending clients here.
import type { Readiness } from "./ops-server.js";

export interface ReadinessInputs {
  /** SIGTERM received: the pod is leaving. */
  isDraining(): boolean;
  /** The shared store answers (always true in embedded mode). */
  clusterHealthy(): boolean;
  /** Live cross-pod fan-out is proven by the canary (always true in embedded mode). */
  fanoutHealthy(): boolean;
  /** Sockets connected on this pod now. */
  connected(): number;
  maxConnections: number;
}

/** First matching reason wins: draining hides every other state, a full pod is the least severe. */
export function readinessCheck(i: ReadinessInputs): () => Readiness {
  return () => {
    if (i.isDraining()) return { ready: false, reason: "draining" };
    if (!i.clusterHealthy()) return { ready: false, reason: "redis_unavailable" };
    if (!i.fanoutHealthy()) return { ready: false, reason: "fanout_unhealthy" };
    if (i.connected() >= i.maxConnections) return { ready: false, reason: "at_capacity" };
    return { ready: true };
  };
}
