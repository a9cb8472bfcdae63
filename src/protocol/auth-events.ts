// auth:refresh: a socket swaps its token for a newer one of the same user without reconnecting.
import { z } from "zod";
import { assertNotKicked } from "../auth/kicks.js";
import { isRoomAllowed } from "../auth/room-access.js";
import { GatewayError } from "../errors.js";
import { defineEvent } from "./context.js";

/**
 * Verified like a handshake token (signature, exp, aud / iss, tolerance, rooms claim), for the same `sub`, and
 * not issued before the user's last kick. On any refusal the socket keeps its current token (and its expiry).
 * Rooms the new `rooms` claim no longer allows are left at once (listed in `left`): a socket is never in a
 * room its current token does not allow.
 */
export const authRefresh = defineEvent({
  name: "auth:refresh",
  // The verifier answers a missing token (AUTH_REQUIRED) and a non-string or oversized one (AUTH_INVALID), as at the handshake.
  schema: z.strictObject({ token: z.unknown().optional() }),
  async handle({ ctx, socket, session }, { token }) {
    const identity = await ctx.tokens.verifier.verify(token);
    if (identity.userId !== session.identity.userId)
      throw new GatewayError("AUTH_INVALID", "the new token is for another user (sub differs): connect again with it instead");
    await assertNotKicked(ctx.cluster.kicks, identity);
    session.identity = identity;
    ctx.tokens.expiry.arm(socket);
    const left = [...session.rooms].filter((room) => !isRoomAllowed(identity, room));
    for (const room of left) {
      session.rooms.delete(room);
      await socket.leave(room);
      await ctx.presence.leave(room, identity.userId, socket.id);
    }
    return { expiresAt: (identity.expiresAt ?? 0) * 1000, ...(left.length > 0 ? { left } : {}) };
  },
});
