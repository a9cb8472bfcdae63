// typing and presence:get: nothing stored, answered from the live cluster view.
import { z } from "zod";
import { assertRoomAllowed } from "../auth/room-access.js";
import { GatewayError } from "../errors.js";
import { defineEvent } from "./context.js";
import { roomName } from "./schemas.js";

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
  schema: z.strictObject({ room: roomName }),
  async handle({ ctx, session }, { room }) {
    assertRoomAllowed(session.identity, room);
    return { room, users: await ctx.cluster.presence.list(room) };
  },
});
