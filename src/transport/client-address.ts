// The client's address: the socket peer, or an X-Forwarded-For entry when proxies are trusted.

/** uWS reports IPv4 peers in IPv6-mapped form; show them as plain IPv4. */
export function normaliseAddress(addr: string): string {
  const a = addr.trim().toLowerCase();
  const mapped = /^(?:0{1,4}:){5}ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a) ?? /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return dotted ? dotted[1]! : a;
}

/**
 * With `hops` trusted proxies in front, the client is the hops-th address from the right of
 * X-Forwarded-For + peer. Untrusted entries further left are ignored: anyone can write them.
 */
export function clientAddress(peer: string, forwardedFor: string | string[] | undefined, hops: number): string {
  const chain = [peer];
  if (hops > 0 && forwardedFor) {
    const header = Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor;
    const entries = header
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0 && s.length <= 64);
    chain.unshift(...entries);
  }
  const index = Math.max(0, chain.length - 1 - hops);
  return normaliseAddress(chain[index]!);
}
