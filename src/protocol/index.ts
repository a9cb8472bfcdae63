// The client event table of SPEC.md.
import type { EventDefinition } from "./context.js";
import { presenceGet, typing } from "./ephemeral-events.js";
import { messageAck, messageSend, messageUnacked } from "./message-events.js";
import { roomJoin, roomLeave } from "./room-events.js";

export function clientEvents(extra: EventDefinition[] = []): ReadonlyMap<string, EventDefinition> {
  return new Map([roomJoin, roomLeave, messageSend, typing, messageAck, messageUnacked, presenceGet, ...extra].map((d) => [d.name, d]));
}
