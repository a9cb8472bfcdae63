// The closed list of client events: metric labels and the handler table are built from it.
export const CLIENT_EVENTS = ["room:join", "room:leave", "message:send", "typing", "message:ack", "message:unacked", "presence:get", "auth:refresh"] as const;
export type ClientEvent = (typeof CLIENT_EVENTS)[number];

/** The one event an expired socket may still send: the way out of AUTH_EXPIRED. */
export const REFRESH_EVENT = "auth:refresh" satisfies ClientEvent;

/** Metric label for an event name: the name itself when known, otherwise "unknown" (bounded cardinality). */
export function eventLabel(name: string): ClientEvent | "unknown" {
  return (CLIENT_EVENTS as readonly string[]).includes(name) ? (name as ClientEvent) : "unknown";
}
