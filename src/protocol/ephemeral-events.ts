// typing and presence:get: nothing stored, answered from the live cluster view.
import { z } from "zod";
import { assertRoomAllowed } from "../auth/room-access.js";
import { GatewayError } from "../errors.js";
import { defineEvent } from "./context.js";
import { presenceCursor, roomName } from "./schemas.js";

export const typing = defineEvent({
  name: "typing",
  schema: z.strictObject({ room: roomName, isTyping: z.boolean() }),
  async handle({ socket, session }, { room, isTyping }) {
    if (!session.rooms.has(room)) throw new GatewayError("FORBIDDEN", `join room ${room} before typing in it`);
    socket.to(room).emit("typing", { room, userId: session.identity.userId, isTyping });
    return {};
  },
});

export const presenceGet = defineEvent({
  name: "presence:get",
  schema: z.strictObject({ room: roomName, cursor: presenceCursor.optional(), limit: z.number().int().min(1).optional() }),
  async handle({ ctx, session }, { room, cursor, limit }) {
    assertRoomAllowed(session.identity, room);
    // A limit above the page size is served as a full page: clients need not know PRESENCE_FULL_MAX_USERS.
    return { room, ...(await ctx.presence.page(room, cursor, limit)) };
  },
});
