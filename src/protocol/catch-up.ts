// Catch-up answers (room:join with since, message:unacked): position schema, read bounds, gap answers and
// what a large answer costs the socket's rate budget.
import { z } from "zod";
import { EPOCH_PATTERN, storedBytes } from "../cluster/log-positions.js";
import type { HistoryGap, ReadFrom, ReadLimits, StoredMessage } from "../cluster/types.js";
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
