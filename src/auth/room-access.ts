// Names and the `rooms` allow-list: which rooms a token may join.
import { GatewayError } from "../errors.js";
import type { Identity } from "./token-verifier.js";

/** User ids, device ids: no separators that could collide with internal keys or room names. */
export const ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;
/** Client room names: same alphabet; `#` is reserved for internal rooms, `*` for patterns. */
export const ROOM_NAME_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;
/** Allow-list entries: a room name, optionally ending in `*` (prefix match), or `*` alone. */
export const ROOM_PATTERN_PATTERN = /^[A-Za-z0-9._:@-]{0,128}\*?$/;

export function isRoomAllowed(identity: Identity, room: string): boolean {
  for (const pattern of identity.rooms) {
    if (pattern.endsWith("*") ? room.startsWith(pattern.slice(0, -1)) : room === pattern) return true;
  }
  return false;
}

export function assertRoomAllowed(identity: Identity, room: string): void {
  if (!isRoomAllowed(identity, room)) throw new GatewayError("FORBIDDEN", `not allowed to join room ${room}`);
}

/** The internal room every socket of a user joins: direct messages and kicks target it cluster-wide. */
export const userRoom = (userId: string): string => `#u:${userId}`;
