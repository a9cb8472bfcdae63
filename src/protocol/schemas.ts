// Payload schemas shared by several event families.
import { z } from "zod";
import { ID_PATTERN, ROOM_NAME_PATTERN } from "../auth/room-access.js";

export const roomName = z.string().regex(ROOM_NAME_PATTERN, "room must be 1-128 characters of A-Z a-z 0-9 . _ - : @");
/** A presence page cursor as handed out in `nextCursor` (base64url of a user id). */
export const presenceCursor = z.string().regex(/^[A-Za-z0-9_-]{1,172}$/, "cursor must be a nextCursor from a previous answer");
export const userId = z.string().regex(ID_PATTERN, "user id must be 1-128 characters of A-Z a-z 0-9 . _ - : @");
export const clientMsgId = z.string().min(1).max(128);
/** Any JSON value (or binary); its size and depth bounds (MAX_BODY_BYTES, 32 levels) are checked by body-bounds before it is stored. */
export const messageBody = z.unknown().refine((v) => v !== undefined && typeof v !== "function", "body is required");

/** The first schema problem as a client-safe sentence: "room: room must be ...". */
export function describeIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>, fallback: string): string {
  const first = issues[0];
  if (!first) return fallback;
  const path = first.path.map(String).join(".");
  return path ? `${path}: ${first.message}` : first.message;
}
