// The kick record shared by every pod: when a backend last kicked a user (POST /v1/disconnect), so that the
// user's tokens issued before it are refused cluster-wide, at the handshake and on auth:refresh.

/**
 * When each user was last kicked, remembered for a bounded time.
 * Guarantees:
 * - recordKick resolves only once the record is in the shared store: every kickedAt that starts after that,
 *   on any pod, sees it (Redis: one key written and read on the primary by the command connection; memory:
 *   one process is the whole fleet). A later kick never moves the time back: the latest time wins.
 * - A record is forgotten `ttlMs` (KICK_TTL_MS) after its kick: tokens issued before a kick are refused for
 *   that long, so KICK_TTL_MS must be at least the longest token lifetime (exp - iat) of the identity provider.
 * - When the store cannot answer, both reject with UNAVAILABLE, and callers fail closed: the handshake is
 *   refused as retryable (transport closed), auth:refresh answers UNAVAILABLE, the API answers 503. A user is
 *   never admitted because the kick record could not be read.
 * - Not covered: a Redis failover that loses the last writes (asynchronous replication) can lose a kick
 *   recorded just before it; the sockets themselves were still disconnected.
 */
export interface KickStore {
  /** Stores `atMs` (ms since the epoch, this pod's clock) as the user's kick time, unless a later one is stored. */
  recordKick(userId: string, atMs: number): Promise<void>;
  /** The user's latest kick time still remembered, or undefined. */
  kickedAt(userId: string): Promise<number | undefined>;
  close(): Promise<void>;
}
