// The client event table of SPEC.md, linked at compile time to the closed list of client events.
import { authRefresh } from "./auth-events.js";
import type { EventDefinition } from "./context.js";
import { presenceGet, typing } from "./ephemeral-events.js";
import type { ClientEvent } from "./event-names.js";
import { messageAck, messageSend, messageUnacked } from "./message-events.js";
import { roomJoin, roomLeave } from "./room-events.js";

/**
 * One handler per name of CLIENT_EVENTS: a name added to the list without a handler, or a handler without
 * a name in the list (which metrics would label "unknown"), fails to compile.
 */
export const CLIENT_EVENT_HANDLERS = {
  "room:join": roomJoin,
  "room:leave": roomLeave,
  "message:send": messageSend,
  typing,
  "message:ack": messageAck,
  "message:unacked": messageUnacked,
  "presence:get": presenceGet,
  "auth:refresh": authRefresh,
} as const satisfies Record<ClientEvent, EventDefinition>;

export function clientEvents(extra: EventDefinition[] = []): ReadonlyMap<string, EventDefinition> {
  const table = new Map<string, EventDefinition>();
  for (const [name, def] of Object.entries(CLIENT_EVENT_HANDLERS)) {
    // The key is what metrics label and what clients send: a definition filed under another name is a bug.
    if (def.name !== name) throw new Error(`client event table: ${name} is handled by the definition of ${def.name}`);
    table.set(name, def);
  }
  for (const def of extra) table.set(def.name, def);
  return table;
}
