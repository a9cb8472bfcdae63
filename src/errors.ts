// Stable error codes, the one error type that carries them, and the one table that classifies each code.
import type { FailureReason } from "./ops/metrics.js";

/** Codes a client or backend may see. Stable: clients switch on them. */
export const ERROR_CODES = [
  "AUTH_REQUIRED",
  "AUTH_INVALID",
  "AUTH_EXPIRED",
  "OVER_CAPACITY",
  "DRAINING",
  "RATE_LIMITED",
  "BAD_REQUEST",
  "FORBIDDEN",
  "NOT_FOUND",
  "UNKNOWN_EVENT",
  "PAYLOAD_TOO_LARGE",
  "TOO_MANY_ROOMS",
  "HISTORY_GAP",
  "UNAVAILABLE",
  "INTERNAL",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * An expected refusal. Its message is written for the client and is safe to send;
 * anything that is not a GatewayError is answered as INTERNAL with a generic message.
 */
export class GatewayError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "GatewayError";
  }
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/** What a client sees for any thrown value: never a stack, never an internal message. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof GatewayError) return { code: err.code, message: err.message };
  return { code: "INTERNAL", message: "internal error, the request was not processed" };
}

/** How every surface (handshake, client events, backend API) treats one error code. */
export interface ErrorClass {
  /** Status of a backend API answer carrying this code. */
  httpStatus: number;
  /** Whose failure it is: "client" answers count as outcome rejected, "gateway" ones as outcome error (the error-rate alert). */
  fault: "client" | "gateway";
  /** connection_failures_total{reason} of a handshake refused with this code. */
  handshakeReason: FailureReason;
  /** The same request may succeed later without changing it (clients back off and retry). */
  retryable: boolean;
}

/** The one classification table; adding a code without a row fails to compile. */
export const ERROR_CLASSES = {
  AUTH_REQUIRED: { httpStatus: 401, fault: "client", handshakeReason: "auth_required", retryable: false },
  AUTH_INVALID: { httpStatus: 401, fault: "client", handshakeReason: "auth_invalid", retryable: false },
  AUTH_EXPIRED: { httpStatus: 401, fault: "client", handshakeReason: "auth_expired", retryable: false },
  OVER_CAPACITY: { httpStatus: 503, fault: "gateway", handshakeReason: "capacity", retryable: true },
  DRAINING: { httpStatus: 503, fault: "gateway", handshakeReason: "draining", retryable: true },
  RATE_LIMITED: { httpStatus: 429, fault: "client", handshakeReason: "rate_limited", retryable: true },
  BAD_REQUEST: { httpStatus: 400, fault: "client", handshakeReason: "bad_request", retryable: false },
  FORBIDDEN: { httpStatus: 403, fault: "client", handshakeReason: "bad_request", retryable: false },
  NOT_FOUND: { httpStatus: 404, fault: "client", handshakeReason: "bad_request", retryable: false },
  UNKNOWN_EVENT: { httpStatus: 400, fault: "client", handshakeReason: "bad_request", retryable: false },
  PAYLOAD_TOO_LARGE: { httpStatus: 413, fault: "client", handshakeReason: "payload_too_large", retryable: false },
  TOO_MANY_ROOMS: { httpStatus: 400, fault: "client", handshakeReason: "bad_request", retryable: false },
  HISTORY_GAP: { httpStatus: 409, fault: "client", handshakeReason: "bad_request", retryable: false },
  // The shared store (Redis) did not answer in time: the request may have to be retried with the same idempotency key.
  UNAVAILABLE: { httpStatus: 503, fault: "gateway", handshakeReason: "redis_unavailable", retryable: true },
  INTERNAL: { httpStatus: 500, fault: "gateway", handshakeReason: "internal", retryable: true },
} as const satisfies Record<ErrorCode, ErrorClass>;

export const classify = (code: ErrorCode): ErrorClass => ERROR_CLASSES[code];
