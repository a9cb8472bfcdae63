// What a gateway knows about one connected socket (socket.data), and the typed Socket.IO server and socket.
import type { BroadcastOperator, Server, Socket } from "socket.io";
import type { Identity } from "../auth/token-verifier.js";
import type { StoredMessage } from "../cluster/types.js";
import type { ErrorBody } from "../errors.js";
import type { TransportName } from "../ops/metrics.js";
import type { ClientEvent } from "./event-names.js";
import type { TokenBucket } from "./token-bucket.js";

/** Why the gateway itself is closing this socket's transport, for the disconnect log. */
export type ClosingCause = "drain" | "slow_consumer" | "error_budget" | "rebalance" | "token_expired";

/**
 * Set once by admission (the whole object becomes socket.data), then owned by the socket's handlers.
 * Every admitted socket has one: sockets without a session never reach `connection`.
 */
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
  /** The one timer of this socket's token expiry (auth/token-expiry.ts); cleared on disconnect. */
  expiryTimer?: NodeJS.Timeout;
  /** Set while its transport is being closed by the gateway, for the disconnect log. */
  closing?: ClosingCause;
}

/** The answer of every client event, through the Socket.IO ack callback. */
export type EventAnswer = ({ ok: true } & Record<string, unknown>) | { ok: false; error: ErrorBody };
type ClientEventListener = (payload: unknown, ack?: (answer: EventAnswer) => void) => void;

/** Client -> gateway: SPEC's client events; the pipeline receives them through onAny and validates each payload. */
export type ClientToServerEvents = Record<ClientEvent, ClientEventListener>;

/**
 * Gateway -> client events of SPEC.md. Backends may publish other event names through the API (see publishSchema):
 * those go through emitBackendEvent, the one place where an event name is not known at compile time.
 */
export interface ServerToClientEvents {
  message(message: StoredMessage): void;
  typing(event: { room: string; userId: string; isTyping: boolean }): void;
  presence(event: { room: string; userId: string; status: "online" | "offline" }): void;
  /** mode "full" once a big room shrinks back to full presence: members then get per-user events again. */
  "presence:occupancy"(event: { room: string; users: number; devices: number; mode: "full" | "occupancy" }): void;
  "gateway:draining"(event: { reconnectInMs: number }): void;
  "gateway:rebalance"(event: { reconnectInMs: number }): void;
  "gateway:error"(error: ErrorBody): void;
}

/** Pod-to-pod messages through the adapter (serverSideEmit): none today. */
export type InterServerEvents = Record<string, never>;

export type GatewayServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, Session>;
export type GatewaySocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, Session>;

type BackendEvents = Record<string, (data: unknown) => void>;

/** Emits a backend-named event (POST /v1/publish): its name was validated by the API schema, its data is opaque. */
export function emitBackendEvent(target: BroadcastOperator<ServerToClientEvents, Session>, event: string, data: unknown): void {
  (target as unknown as BroadcastOperator<BackendEvents, Session>).emit(event, data);
}
