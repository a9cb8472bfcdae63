// message:send (room or direct), message:ack and message:unacked: stored first, then fanned out.
import { z } from "zod";
import { userRoom } from "../auth/room-access.js";
import { GatewayError } from "../errors.js";
import type { AppendResult } from "../cluster/types.js";
import { chargeAnswer, pageLimits, unackedCursor } from "./catch-up.js";
import { defineEvent } from "./context.js";
import { clientMsgId, messageBody, roomName, userId } from "./schemas.js";

const sendSchema = z.union([
  z.strictObject({ room: roomName, body: messageBody, clientMsgId: clientMsgId.optional() }),
  z.strictObject({ to: userId, body: messageBody, clientMsgId: clientMsgId.optional() }),
]);

export const messageSend = defineEvent({
  name: "message:send",
  schema: sendSchema,
  async handle({ ctx, socket, session }, input) {
    const from = session.identity.userId;
    if ("room" in input && !session.rooms.has(input.room)) throw new GatewayError("FORBIDDEN", `join room ${input.room} before sending to it`);
    const base = { from, body: input.body, ts: Date.now(), ...(input.clientMsgId ? { clientMsgId: input.clientMsgId } : {}) };
    // The clientMsgId record is written in the same atomic step as the message: a retry, whatever failed
    // before, stores nothing and answers the first id. Duplicates are fanned out again (clients dedupe by
    // id): the first attempt may have stored the message and then failed before anyone received it.
    const options = input.clientMsgId ? { idempotencyKey: `msg:${from}:${input.clientMsgId}` } : undefined;
    let result: AppendResult;
    if ("room" in input) {
      result = await ctx.cluster.history.append(input.room, base, options);
      socket.to(input.room).emit("message", result.message);
    } else {
      result = await ctx.cluster.inbox.append(input.to, { ...base, to: input.to }, options);
      ctx.io.to(userRoom(input.to)).emit("message", result.message);
    }
    const { message, duplicate } = result;
    return { id: message.id, ts: message.ts, seq: message.seq, epoch: message.epoch, ...(duplicate ? { duplicate: true } : {}) };
  },
});

export const messageAck = defineEvent({
  name: "message:ack",
  schema: z.strictObject({ ids: z.array(z.string().min(1).max(200)).min(1).max(1000) }),
  async handle({ ctx, session }, { ids }) {
    const acked = await ctx.cluster.inbox.ack(session.identity.userId, session.deviceId, ids);
    return { acked };
  },
});

export const messageUnacked = defineEvent({
  name: "message:unacked",
  schema: z.strictObject({ limit: z.number().int().min(1).max(1000).optional(), cursor: unackedCursor.optional() }),
  async handle({ ctx, session }, { limit, cursor }) {
    // One page of at most `limit` messages and MAX_ANSWER_BYTES; `nextCursor` continues it.
    const page = await ctx.cluster.inbox.unacked(session.identity.userId, session.deviceId, { ...pageLimits(ctx.config, limit), ...(cursor ? { cursor } : {}) });
    chargeAnswer(session, page.messages);
    return page.more ? { messages: page.messages, more: true, nextCursor: page.nextCursor } : { messages: page.messages };
  },
});
