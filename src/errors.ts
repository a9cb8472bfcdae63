// Stable error codes and the one error type that carries them to clients and API callers.

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
