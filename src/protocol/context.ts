// What a client-event handler may touch: the shared services of one gateway, nothing else.
import type { GatewayServer, GatewaySocket } from "./session.js";
import type { z } from "zod";
import type { TokenExpiry } from "../auth/token-expiry.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import type { ClusterServices } from "../cluster/types.js";
import type { MessageDelivery } from "../delivery/message-delivery.js";
import type { GatewayConfig } from "../config.js";
import type { GatewayMetrics } from "../ops/metrics.js";
import type { Logger } from "../ops/logger.js";
import type { PresenceService } from "../presence/presence-service.js";
import type { Session } from "./session.js";

export interface GatewayContext {
  config: GatewayConfig;
  io: GatewayServer;
  cluster: ClusterServices;
  /** Store, then fan out: the only way handlers and the API send durable messages. */
  delivery: MessageDelivery;
  metrics: GatewayMetrics;
  logger: Logger;
  presence: PresenceService;
  /** The handshake's verifier (auth:refresh verifies with the same checks) and the per-socket expiry. */
  tokens: { verifier: TokenVerifier; expiry: TokenExpiry };
}

export interface HandlerCall {
  ctx: GatewayContext;
  socket: GatewaySocket;
  session: Session;
}

/** One client event: its payload schema and its handler. The pipeline adds everything else. */
export interface EventDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  schema: S;
  handle(call: HandlerCall, input: z.output<S>): Promise<Record<string, unknown>>;
}

export const defineEvent = <S extends z.ZodType>(def: EventDefinition<S>): EventDefinition => def as unknown as EventDefinition;
