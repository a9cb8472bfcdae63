// A token's `exp` over the whole life of its socket: after exp (+ JWT_CLOCK_TOLERANCE_S) the socket's events
// answer AUTH_EXPIRED (the pipeline asks isExpired); one timer per socket tells the client when that happens and,
// without an auth:refresh within TOKEN_REFRESH_GRACE_MS, disconnects it.
import type { GatewayMetrics } from "../ops/metrics.js";
import type { Logger } from "../ops/logger.js";
import type { GatewaySocket, Session } from "../protocol/session.js";

/** setTimeout's largest delay; a later deadline is reached in several steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export interface TokenExpiryOptions {
  clockToleranceS: number;
  graceMs: number;
  metrics: GatewayMetrics;
  logger: Logger;
}

export class TokenExpiry {
  private readonly toleranceMs: number;

  constructor(private readonly o: TokenExpiryOptions) {
    this.toleranceMs = o.clockToleranceS * 1000;
  }

  /** ms since the epoch from which the session's token no longer counts (undefined: no exp, never). */
  expiredFrom(session: Session): number | undefined {
    const exp = session.identity.expiresAt;
    return exp === undefined ? undefined : exp * 1000 + this.toleranceMs;
  }

  isExpired(session: Session, now = Date.now()): boolean {
    const from = this.expiredFrom(session);
    return from !== undefined && now >= from;
  }

  /** (Re)arms the socket's one timer for its current token: at admission and after each refresh. */
  arm(socket: GatewaySocket): void {
    this.disarm(socket.data);
    const from = this.expiredFrom(socket.data);
    if (from === undefined) return;
    const now = Date.now();
    // Already expired when armed (a refresh raced the clock): the grace still counts from the expiry.
    this.schedule(socket, now < from ? from : from + this.o.graceMs);
  }

  /** Clears the socket's timer: on disconnect, so no timer outlives its socket. */
  disarm(session: Session): void {
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    session.expiryTimer = undefined;
  }

  private schedule(socket: GatewaySocket, at: number): void {
    // The listener is shared by every socket (no closure per socket). Not unref'd: it lives exactly as long as
    // its socket (disarmed on disconnect), and the leak checks (getActiveResourcesInfo) can see it.
    socket.data.expiryTimer = setTimeout(this.fire, Math.min(MAX_DELAY_MS, Math.max(0, at - Date.now())), socket);
  }

  private readonly fire = (socket: GatewaySocket): void => {
    const session = socket.data;
    session.expiryTimer = undefined;
    const from = this.expiredFrom(session);
    if (!socket.connected || from === undefined) return;
    const now = Date.now();
    // Early (a deadline beyond setTimeout's range, or the wall clock moved): wait again.
    if (now < from) return this.schedule(socket, from);
    const closeAt = from + this.o.graceMs;
    if (now < closeAt) {
      socket.emit("gateway:error", {
        code: "AUTH_EXPIRED",
        message: `token expired: send auth:refresh { token } within ${Math.ceil((closeAt - now) / 1000)} s or this socket is disconnected`,
      });
      return this.schedule(socket, closeAt);
    }
    session.closing = "token_expired";
    this.o.metrics.tokenExpiredDisconnects.inc();
    socket.emit("gateway:error", { code: "AUTH_EXPIRED", message: "token expired and was not refreshed: disconnected; connect again with a new token" });
    // disconnect(true): a server-side disconnect, which socket.io-client does not retry with its dead token.
    socket.disconnect(true);
  };
}
