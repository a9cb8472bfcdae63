// Names of the Socket.IO rooms that hold a big room's members by the occupancy epoch they joined in.
//
// A full-mode `presence` event is broadcast with `except` the next epoch's room (presence-service.ts): pods that
// deliver it late, after the room switched to occupancy, skip the members who joined since. The NUL byte keeps
// these names apart from every client room name (room names are validated) and every user room.
const MARK = "\u0000occupancy-epoch-";

/** The Socket.IO room of the sockets that joined `room` during occupancy epoch `epoch` (never a client room name). */
export const lateJoinersRoom = (room: string, epoch: number): string => `${room}${MARK}${epoch}`;

/** Whether a Socket.IO room is a late-joiner room (no history or position of its own). */
export const isLateJoinersRoom = (name: string): boolean => name.includes(MARK);

/** The late-joiner rooms of `room` among a socket's rooms: left with the room itself. */
export function lateJoinerRoomsOf(room: string, socketRooms: Iterable<string>): string[] {
  const prefix = `${room}${MARK}`;
  return [...socketRooms].filter((r) => r.startsWith(prefix));
}
