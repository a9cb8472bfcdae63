// Opaque cursors of presence pages: the last user id of a page, base64url-encoded so clients do not parse it.
import { GatewayError } from "../errors.js";
import { ID_PATTERN } from "../auth/room-access.js";

export const encodeCursor = (userId: string): string => Buffer.from(userId, "utf8").toString("base64url");

/** The user id a cursor continues after; BAD_REQUEST for anything this gateway did not hand out. */
export function decodeCursor(cursor: string): string {
  const userId = Buffer.from(cursor, "base64url").toString("utf8");
  if (!ID_PATTERN.test(userId) || encodeCursor(userId) !== cursor) throw new GatewayError("BAD_REQUEST", "cursor is not one this gateway handed out");
  return userId;
}
