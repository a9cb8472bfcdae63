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
  /** STREAM of direct messages, entry id `<seq>-0`, fields `t` = server ms at append, `m` = JSON of the message without id/seq/epoch. */
  log: `${P}:inbox:{${userId}}:log`,
  /** HASH epoch, seq: the inbox's current epoch and last seq. */
  meta: `${P}:inbox:{${userId}}:meta`,
  /** HASH deviceId -> floor: every entry id <= floor is acknowledged by that device. */
  floors: `${P}:inbox:{${userId}}:floors`,
  /** ZSET of ids above the floor acknowledged by the device, score = the id's seq. */
  acked: `${P}:inbox:{${userId}}:acked:${deviceId}`,
});

export const historyKeys = (room: string) => ({
  /** HASH epoch, seq: the room log's current epoch and last seq. */
  meta: `${P}:history:{${room}}:meta`,
  /** ZSET member `<seq>|<JSON without id/seq/epoch/room>`, score = seq. */
  log: `${P}:history:{${room}}:log`,
});

/**
 * STRING `<epoch>|<seq>|<ts>`: the first append under an idempotency key, on the same slot as the log it
 * guards (so the Lua append can write it atomically on Redis Cluster too). Ids, not bodies.
 */
export const logIdempotencyKey = (log: "history" | "inbox", tag: string, key: string) => `${P}:idem:{${tag}}:${log}:${key}`;

export const idempotencyKey = (key: string) => `${P}:idem:${key}`;

/** Rebalancing's fleet load, under one hash tag so its scripts run on one Redis Cluster slot. */
export const fleetLoadKeys = {
  /** ZSET podId -> expiry (server ms). */
  expiry: `${P}:fleet:{load}:expiry`,
  /** HASH podId -> JSON of the PodLoad it published last. */
  loads: `${P}:fleet:{load}:loads`,
};

/** STRING with a TTL: a pod is shedding one of this user's devices. */
export const fleetShedClaimKey = (userId: string) => `${P}:fleet:shed:{${userId}}`;

/** STRING: ms since the epoch of the user's latest kick (POST /v1/disconnect), PX = KICK_TTL_MS from the kick. */
export const kickKey = (userId: string) => `${P}:kick:{${userId}}`;
