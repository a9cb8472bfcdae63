// message:send (room or direct), message:ack and message:unacked: stored first, then fanned out.
import { z } from "zod";
import { GatewayError } from "../errors.js";
import { assertBodyWithinBounds } from "./body-bounds.js";
import { chargeAnswer, fittingAttachments, pageLimits, unackedCursor } from "./catch-up.js";
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
    // Before anything is stored or fanned out: every later step (hasBinary, encoders) recurses over the body.
    assertBodyWithinBounds(input.body, { maxBodyBytes: ctx.config.maxBodyBytes });
    if ("room" in input && !session.rooms.has(input.room)) throw new GatewayError("FORBIDDEN", `join room ${input.room} before sending to it`);
    const message = { from, body: input.body, ts: Date.now(), ...(input.clientMsgId ? { clientMsgId: input.clientMsgId } : {}) };
    // A retried send (same clientMsgId) answers the first result: the key is recorded atomically with the append.
    const idempotencyKey = input.clientMsgId ? `msg:${from}:${input.clientMsgId}` : undefined;
    const { message: stored, duplicate } =
      "room" in input
        ? await ctx.delivery.toRoom(input.room, message, { idempotencyKey, exceptSocketId: socket.id })
        : await ctx.delivery.toUser(input.to, message, { idempotencyKey });
    return { id: stored.id, ts: stored.ts, seq: stored.seq, epoch: stored.epoch, ...(duplicate ? { duplicate: true } : {}) };
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
    const page = await ctx.cluster.inbox.unacked(session.identity.userId, session.deviceId, {
      ...pageLimits(ctx.config, limit),
      ...(cursor ? { cursor } : {}),
    });
    // Cut at the attachments one answer may carry; the next page starts after the last message kept (ids are cursors).
    const fit = fittingAttachments(page.messages);
    const messages = page.messages.slice(0, fit);
    chargeAnswer(session, messages);
    if (fit < page.messages.length) return { messages, more: true, nextCursor: messages[fit - 1]!.id };
    return page.more ? { messages, more: true, nextCursor: page.nextCursor } : { messages };
  },
});
