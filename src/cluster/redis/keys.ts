// The Redis key layout of cluster mode, in one place so that slots and prefixes stay consistent.
//
// Every key a multi-key Lua script touches carries the same hash tag ({room} or {user}), so the script
// runs on one Redis Cluster slot. Room and user ids are limited to [A-Za-z0-9._:@-] (auth/room-access.ts),
// so they never contain the braces of a hash tag.

const P = "sg";

export const presenceKeys = (room: string) => ({
  /** ZSET member `<userId>\n<podId>\n<socketKey>`, score = expiry (server ms). ZCARD = the room's devices. */
  sockets: `${P}:presence:{${room}}:sockets`,
  /** HASH userId -> live socket count (entries not yet reaped). */
  users: `${P}:presence:{${room}}:users`,
  /** ZSET of online user ids (grace period included), all score 0: ZCARD = users, ZRANGEBYLEX pages by user id. */
  members: `${P}:presence:{${room}}:members`,
  /** ZSET userId -> server ms when their last socket left: users inside the grace period. */
  pending: `${P}:presence:{${room}}:pending`,
  /** HASH mode (full | occupancy), dirty (1 = counts changed since the last occupancy claim), last (ms of that claim). */
  meta: `${P}:presence:{${room}}:meta`,
});

/** ZSET podId -> expiry (server ms): pods whose entry expired are dead and get reaped. */
export const presencePodsKey = `${P}:presence:pods`;

/** SET of the rooms where a pod has (or may have) presence entries, so its entries can be reaped after a crash. */
export const presencePodRoomsKey = (podId: string) => `${P}:presence:pod:{${podId}}:rooms`;

export const inboxKeys = (userId: string, deviceId: string) => ({
  /** STREAM of direct messages, field `m` = JSON of the message without id. */
  log: `${P}:inbox:{${userId}}:log`,
  /** HASH deviceId -> floor: every entry id <= floor is acknowledged by that device. */
  floors: `${P}:inbox:{${userId}}:floors`,
  /** ZSET of ids above the floor acknowledged by the device, score = id's millisecond part. */
  acked: `${P}:inbox:{${userId}}:acked:${deviceId}`,
});

export const historyKeys = (room: string) => ({
  /** STRING: last sequence number assigned in the room. */
  seq: `${P}:history:{${room}}:seq`,
  /** ZSET member `<seq>|<JSON without id/seq/room>`, score = seq. */
  log: `${P}:history:{${room}}:log`,
});

export const idempotencyKey = (key: string) => `${P}:idem:${key}`;
