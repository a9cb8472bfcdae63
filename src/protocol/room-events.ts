// room:join and room:leave: authorisation against the token, presence, history catch-up.
import { z } from "zod";
import { assertRoomAllowed } from "../auth/room-access.js";
import { GatewayError } from "../errors.js";
import type { PresenceAnswer } from "../presence/presence-service.js";
import { defineEvent } from "./context.js";
import { roomName } from "./schemas.js";

/** Most messages one join replays; older gaps answer HISTORY_GAP so the client resyncs. */
export const MAX_REPLAY = 1000;

export const roomJoin = defineEvent({
  name: "room:join",
  schema: z.strictObject({ room: roomName, since: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional() }),
  async handle({ ctx, socket, session }, { room, since }) {
    assertRoomAllowed(session.identity, room);
    if (!session.rooms.has(room) && session.rooms.size >= ctx.config.maxRoomsPerSocket)
      throw new GatewayError("TOO_MANY_ROOMS", `a socket may join at most ${ctx.config.maxRoomsPerSocket} rooms`);
    // Join first, read history second: nothing sent in between is missed (the client dedupes by id).
    session.rooms.add(room);
    await socket.join(room);
    const presence = joinAnswer(await ctx.presence.join(room, session.identity.userId, socket.id));
    if (since === undefined) return { room, ...presence };
    const history = await ctx.cluster.history.since(room, since, MAX_REPLAY);
    if (history.ok) return { room, ...presence, messages: history.messages };
    return {
      room,
      ...presence,
      messages: [],
      gap: { code: "HISTORY_GAP", message: `history starts at seq ${history.oldestSeq}: resync this room`, oldestSeq: history.oldestSeq },
    };
  },
});

/**
 * The presence part of a room:join answer: exact counts always, the first page of users (`more` and
 * `nextCursor` when presence:get has the rest), and `presenceMode` so a client knows which events to expect.
 */
function joinAnswer({ occupancy, mode, users, more, nextCursor }: PresenceAnswer): Record<string, unknown> {
  return { occupancy, presenceMode: mode, users, ...(more ? { more, nextCursor } : {}) };
}

export const roomLeave = defineEvent({
  name: "room:leave",
  schema: z.strictObject({ room: roomName }),
  async handle({ ctx, socket, session }, { room }) {
    if (!session.rooms.delete(room)) return { room, joined: false };
    await socket.leave(room);
    await ctx.presence.leave(room, session.identity.userId, socket.id);
    return { room };
  },
});
