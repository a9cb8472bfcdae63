// The closed list of client events: metric labels and the handler table are built from it.
export const CLIENT_EVENTS = ["room:join", "room:leave", "message:send", "typing", "message:ack", "message:unacked", "presence:get"] as const;
export type ClientEvent = (typeof CLIENT_EVENTS)[number];

/** Metric label for an event name: the name itself when known, otherwise "unknown" (bounded cardinality). */
export function eventLabel(name: string): ClientEvent | "unknown" {
  return (CLIENT_EVENTS as readonly string[]).includes(name) ? (name as ClientEvent) : "unknown";
}
