// What a gateway knows about one connected socket, kept in socket.data.
import type { Socket } from "socket.io";
import type { Identity } from "../auth/token-verifier.js";
import type { TransportName } from "../ops/metrics.js";
import type { TokenBucket } from "./token-bucket.js";

export interface Session {
  identity: Identity;
  /** From auth.deviceId, or "default": the inbox acknowledges per device. */
  deviceId: string;
  /** Client rooms this socket joined (internal rooms excluded). */
  rooms: Set<string>;
  bucket: TokenBucket;
  /** Handler failures so far; past the budget the socket is disconnected. */
  failures: number;
  transport: TransportName;
  clientAddress: string;
  userAgent: string;
  /** Set while its transport is being closed by the gateway (drain, slow consumer), for the disconnect log. */
  closing?: "drain" | "slow_consumer" | "error_budget" | "kicked" | "rebalance";
}

export function sessionOf(socket: Socket): Session {
  return socket.data as Session;
}
