// Catch-up answers (room:join with since, message:unacked): position schema, read bounds, gap answers and
// what a large answer costs the socket's rate budget.
import { z } from "zod";
import { EPOCH_PATTERN, storedBytes } from "../cluster/log-positions.js";
import type { HistoryGap, LogPosition, ReadFrom, ReadLimits, StoredMessage } from "../cluster/types.js";
import type { GatewayConfig } from "../config.js";
import type { Session } from "./session.js";

/** Most messages one catch-up or unacked page carries (the byte bound usually cuts first). */
export const MAX_PAGE_MESSAGES = 1000;

/** A position as clients send it: `{ epoch, seq }`, or a bare seq meaning "the log's current epoch". */
export const sinceSchema = z.union([
  z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  z.strictObject({ epoch: z.string().regex(EPOCH_PATTERN, "epoch as received in a message"), seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
]);

export function readFrom(since: z.output<typeof sinceSchema>): ReadFrom {
  return typeof since === "number" ? { seq: since } : since;
}

/** Direct message ids double as unacked cursors. */
export const unackedCursor = z.string().regex(/^dm:[A-Za-z0-9_-]{1,32}:\d{1,15}$/, "cursor as received in nextCursor");

export function pageLimits(config: Pick<GatewayConfig, "maxAnswerBytes">, maxMessages = MAX_PAGE_MESSAGES): ReadLimits {
  return { maxMessages: Math.min(maxMessages, MAX_PAGE_MESSAGES), maxBytes: config.maxAnswerBytes };
}

export function gapAnswer(gap: HistoryGap): HistoryGap & { message: string } {
  const why =
    gap.reason === "epoch"
      ? "the log was reset since that position"
      : gap.reason === "ahead"
        ? "that position is ahead of the log"
        : `history now starts at seq ${gap.oldestSeq}`;
  return { ...gap, message: `${why}: resync, then continue from { epoch: "${gap.epoch}", seq: ${Math.max(0, gap.oldestSeq - 1)} }` };
}

/**
 * Bytes of answer one rate-limit token pays for, on top of the event's own token: a full default page
 * (1 MiB) costs 64 tokens, so a re-join or unacked loop gets at most ~RATE_LIMIT_EVENTS_PER_S x 16 KiB/s.
 */
export const ANSWER_BYTES_PER_TOKEN = 16 * 1024;

/** Charges an answer's size to the socket's rate budget. */
export function chargeAnswer(session: Session, messages: StoredMessage[]): void {
  if (messages.length === 0) return;
  let bytes = 0;
  for (const m of messages) bytes += storedBytes(m);
  // Every started 16 KiB costs a token: a replay is never free, however small.
  session.bucket.charge(Math.ceil(bytes / ANSWER_BYTES_PER_TOKEN));
}

/**
 * Binary attachments one answer may carry: socket.io-parser's decoder, the stock socket.io-client's included,
 * refuses a packet with more than 10 and closes the connection ("parse error"). A page of stored messages
 * holding binary bodies is cut at this bound, so one catch-up answer can never disconnect its reader.
 */
export const MAX_ANSWER_ATTACHMENTS = 10;

/**
 * How many of `messages`, from the first, fit in one answer's binary attachments (the first always does: a
 * stored body has at most 10, the parser's bound on the packet that carried it).
 */
export function fittingAttachments(messages: readonly StoredMessage[]): number {
  let total = 0;
  for (let i = 0; i < messages.length; i++) {
    total += binaryParts(messages[i]!.body);
    if (i > 0 && total > MAX_ANSWER_ATTACHMENTS) return i;
  }
  return messages.length;
}

/** A read page cut to what one answer may carry: `more` and `next` continue after the last message kept. */
export function cutToAttachments(messages: StoredMessage[], more: boolean, next: LogPosition): { messages: StoredMessage[]; more: boolean; next: LogPosition } {
  const fit = fittingAttachments(messages);
  if (fit === messages.length) return { messages, more, next };
  const kept = messages.slice(0, fit);
  return { messages: kept, more: true, next: { epoch: next.epoch, seq: kept[fit - 1]!.seq } };
}

/** Binary values in a stored body (bounded: bodies are at most 32 levels deep and MAX_BODY_BYTES large), walked without recursion. */
function binaryParts(body: unknown): number {
  let parts = 0;
  const stack: unknown[] = [body];
  while (stack.length > 0) {
    const value = stack.pop();
    if (value === null || typeof value !== "object") continue;
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) parts++;
    else if (Array.isArray(value)) stack.push(...(value as unknown[]));
    else stack.push(...Object.values(value));
  }
  return parts;
}
