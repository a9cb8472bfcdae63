// Exactly how many local sockets one adapter broadcast reaches, for messages_delivered_total.
// Same rule as socket.io-adapter's own delivery (union of the target rooms, or every socket, minus
// the sockets of the except rooms), computed without walking a room when a size answers it.
import type { Adapter, BroadcastOptions } from "socket.io-adapter";

type Rooms = Adapter["rooms"];

function exceptSids(rooms: Rooms, except: ReadonlySet<string> | undefined): Set<string> | undefined {
  if (!except || except.size === 0) return undefined;
  let out: Set<string> | undefined;
  for (const room of except) {
    const sids = rooms.get(room);
    if (!sids) continue;
    out ??= new Set();
    for (const sid of sids) out.add(sid);
  }
  return out;
}

export function countRecipients(adapter: Pick<Adapter, "rooms" | "sids">, opts: Pick<BroadcastOptions, "rooms" | "except">): number {
  const { rooms } = adapter;
  const except = exceptSids(rooms, opts.except);
  const overlap = (target: ReadonlySet<string> | ReadonlyMap<string, unknown>) => {
    if (!except) return 0;
    let n = 0;
    for (const sid of except) if (target.has(sid)) n++;
    return n;
  };
  if (opts.rooms.size === 0) return adapter.sids.size - overlap(adapter.sids);
  if (opts.rooms.size === 1) {
    const sids = rooms.get(opts.rooms.values().next().value as string);
    return sids ? sids.size - overlap(sids) : 0;
  }
  // Several rooms: a socket in two of them still receives the packet once.
  const seen = new Set<string>();
  for (const room of opts.rooms) {
    const sids = rooms.get(room);
    if (!sids) continue;
    for (const sid of sids) if (!except?.has(sid)) seen.add(sid);
  }
  return seen.size;
}
