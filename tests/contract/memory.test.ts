// Runs every cluster-interface contract against the embedded (in-memory) implementations.
import { MemoryHistory } from "../../src/cluster/memory/memory-history.js";
import { MemoryIdempotency } from "../../src/cluster/memory/memory-idempotency.js";
import { MemoryInbox } from "../../src/cluster/memory/memory-inbox.js";
import { MemoryKicks } from "../../src/cluster/memory/memory-kicks.js";
import { MemoryPresence } from "../../src/cluster/memory/memory-presence.js";
import { presenceModeLimits } from "../../src/presence/limits.js";
import { MemoryFleetLoad } from "../../src/cluster/memory/memory-fleet-load.js";
import { fleetLoadContract } from "./fleet-load.contract.js";
import { idempotencyContract } from "./idempotency.contract.js";
import { inboxContract } from "./inbox.contract.js";
import { kickStoreContract } from "./kicks.contract.js";
import { logContract } from "./log.contract.js";
import { presenceContract } from "./presence.contract.js";

// One process is the whole cluster in embedded mode: every "pod" is the same instance.
const shared = <T>(count: number, one: T): T[] => Array.from({ length: count }, () => one);

presenceContract("memory", { expires: false, pods: async (count, o) => shared(count, new MemoryPresence(o?.limits ?? presenceModeLimits(200))) });
inboxContract("memory", { create: async (count, limits) => shared(count, new MemoryInbox(limits)) });
logContract("memory history", {
  create: async (count, o) => shared(count, new MemoryHistory({ maxLength: o.maxLength, ttlMs: o.ttlMs, idempotencyTtlMs: o.idempotencyTtlMs })),
});
logContract("memory inbox", {
  create: async (count, o) => shared(count, new MemoryInbox({ maxLength: o.maxLength, maxAgeMs: o.ttlMs, idempotencyTtlMs: o.idempotencyTtlMs })),
});
idempotencyContract("memory", { create: async (count, ttlMs) => shared(count, new MemoryIdempotency(ttlMs)) });
fleetLoadContract("memory", { create: async (count, ttlMs) => shared(count, new MemoryFleetLoad(ttlMs)) });
kickStoreContract("memory", { create: async (count, ttlMs) => shared(count, new MemoryKicks(ttlMs)) });
