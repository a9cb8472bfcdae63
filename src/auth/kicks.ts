// Refuses a token issued before its user's last kick (POST /v1/disconnect), on every pod.
import type { KickStore } from "../cluster/kick-store.js";
import { GatewayError } from "../errors.js";
import type { Identity } from "./token-verifier.js";

/**
 * Throws AUTH_INVALID when the token was issued before the user's last remembered kick. `iat` has whole seconds:
 * a token issued in the kick's own second is accepted, so the usual "kick, then re-authenticate at once" flow
 * works (the price: a token minted in that same second just before the kick survives it). A token without `iat`
 * counts as issued at the epoch, before any kick. The store's UNAVAILABLE passes through: nobody is admitted on
 * an unreadable kick record.
 */
export async function assertNotKicked(kicks: KickStore, identity: Identity): Promise<void> {
  const kickedAtMs = await kicks.kickedAt(identity.userId);
  if (kickedAtMs === undefined) return;
  if ((identity.issuedAt ?? 0) < Math.floor(kickedAtMs / 1000))
    throw new GatewayError("AUTH_INVALID", "token was revoked: it was issued before this user was disconnected by the backend; get a new token");
}
