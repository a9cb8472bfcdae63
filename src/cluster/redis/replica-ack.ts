// REDIS_ACK_REPLICAS: after an append, WAIT until that many replicas have it, or answer UNAVAILABLE.
//
// WAIT counts the replicas that acknowledged every write this connection sent so far, so it runs on the
// connection (on Redis Cluster: the node connection) that carried the append. A duplicate append also
// writes (it refreshes its idempotency record) so that the retry's WAIT covers the first append too.
import { Cluster, type Redis } from "ioredis";
import { GatewayError } from "../../errors.js";
import type { RedisOps } from "./redis-ops.js";

/** How long one acknowledgement waits for replicas; kept under the store's per-operation deadline. */
export const ACK_WAIT_MS = 1000;

export class ReplicaAck {
  constructor(
    private readonly ops: RedisOps,
    readonly replicas: number,
    private readonly waitMs = ACK_WAIT_MS,
  ) {}

  /** Resolves once `replicas` replicas have every write so far on the connection serving `key`. */
  async confirm(key: string): Promise<void> {
    if (this.replicas <= 0) return;
    const acked = await this.ops.run("replica.wait", async (client) =>
      Number(await (await connectionFor(client, key)).call("WAIT", this.replicas, this.waitMs)),
    );
    if (acked < this.replicas)
      throw new GatewayError(
        "UNAVAILABLE",
        `stored, but only ${acked} of ${this.replicas} replicas confirmed it within ${this.waitMs} ms: retry with the same clientMsgId / idempotencyKey`,
      );
  }
}

/** On Redis Cluster, the connection of the master that owns the key's slot (where the append ran). */
async function connectionFor(client: Redis | Cluster, key: string): Promise<Redis> {
  if (!(client instanceof Cluster)) return client;
  const slot = Number(await client.call("CLUSTER", "KEYSLOT", key));
  const owner = client.slots[slot]?.[0];
  const node = client.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === owner);
  if (!node) throw new GatewayError("UNAVAILABLE", "the shared store is reconfiguring: retry later");
  return node;
}
