// room:join and room:leave: authorisation against the token, presence, history catch-up.
import { z } from "zod";
import { assertRoomAllowed } from "../auth/room-access.js";
import { GatewayError } from "../errors.js";
import { lateJoinerRoomsOf } from "../presence/late-joiners.js";
import type { PresenceAnswer } from "../presence/presence-service.js";
import { defineEvent } from "./context.js";
import { chargeAnswer, cutToAttachments, gapAnswer, pageLimits, readFrom, sinceSchema } from "./catch-up.js";
import { roomName } from "./schemas.js";

export const roomJoin = defineEvent({
  name: "room:join",
  schema: z.strictObject({ room: roomName, since: sinceSchema.optional() }),
  async handle({ ctx, socket, session }, { room, since }) {
    assertRoomAllowed(session.identity, room);
    if (!session.rooms.has(room) && session.rooms.size >= ctx.config.maxRoomsPerSocket)
      throw new GatewayError("TOO_MANY_ROOMS", `a socket may join at most ${ctx.config.maxRoomsPerSocket} rooms`);
    // Join first, read history second: nothing sent in between is missed (the client dedupes by id).
    // The presence service puts the socket into the room between recording it and reading the page.
    session.rooms.add(room);
    const presence = joinAnswer(await ctx.presence.join(room, session.identity.userId, socket.id, (rooms) => socket.join(rooms)));
    // The answer promises live messages: with sharded pub/sub (Redis Cluster) the room's subscription is
    // sent by the adapter without waiting, so wait until Redis confirms it. Refused or unconfirmed: undo
    // the join and answer UNAVAILABLE (the client retries) rather than "ok" with nothing arriving.
    try {
      await ctx.cluster.fanout.roomSubscribed(room, ctx.config.redisOpTimeoutMs);
    } catch (err) {
      session.rooms.delete(room);
      for (const r of [room, ...lateJoinerRoomsOf(room, socket.rooms)]) await socket.leave(r);
      await ctx.presence.leave(room, session.identity.userId, socket.id).catch(() => undefined);
      ctx.logger.warn({ room, err }, "room subscription not confirmed by redis: join refused");
      throw new GatewayError("UNAVAILABLE", "live delivery for this room could not be set up: retry");
    }
    if (since === undefined) return { room, ...presence };
    // Catch-up: one page of at most MAX_ANSWER_BYTES; `nextSince` continues it (the client re-sends room:join).
    const read = await ctx.cluster.history.since(room, readFrom(since), pageLimits(ctx.config));
    if (!read.ok) return { room, ...presence, messages: [], gap: gapAnswer(read.gap) };
    const page = cutToAttachments(read.messages, read.more, read.next);
    chargeAnswer(session, page.messages);
    return { room, ...presence, messages: page.messages, position: page.next, ...(page.more ? { messagesMore: true, nextSince: page.next } : {}) };
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
    for (const r of [room, ...lateJoinerRoomsOf(room, socket.rooms)]) await socket.leave(r);
    await ctx.presence.leave(room, session.identity.userId, socket.id);
    return { room };
  },
});
