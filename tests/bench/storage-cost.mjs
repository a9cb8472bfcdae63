#!/usr/bin/env node
// Cost per stored message in cluster mode: Redis memory (INFO used_memory delta) and time per append
// for the inbox (direct messages) and the room history, through the gateway's own stores, against a
// real redis-server on a free loopback port, plus the cost of REDIS_ACK_REPLICAS=1 (WAIT for one
// replica, a second redis-server replicating from the first) side by side with no WAIT, same run.
// Bounded: N appends each, then the servers are killed.
//   npm run build && node tests/bench/storage-cost.mjs [--n 20000] [--body-bytes 100]
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { RedisOps } from "../../dist/cluster/redis/redis-ops.js";
import { RedisInbox } from "../../dist/cluster/redis/redis-inbox.js";
import { RedisHistory } from "../../dist/cluster/redis/redis-history.js";
import { ReplicaAck } from "../../dist/cluster/redis/replica-ack.js";

const { values } = parseArgs({ options: { n: { type: "string", default: "20000" }, "body-bytes": { type: "string", default: "100" }, concurrency: { type: "string", default: "32" } } });
const N = Math.min(200_000, Number(values.n));
const BODY = "x".repeat(Number(values["body-bytes"]));
const CONCURRENCY = Number(values.concurrency);

const port = await new Promise((r) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => r(p));
  });
});
const dir = mkdtempSync(join(tmpdir(), "sg-storage-"));
const server = spawn("/usr/bin/redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
const replicaPort = await new Promise((r) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => r(p));
  });
});
const replicaDir = mkdtempSync(join(tmpdir(), "sg-storage-replica-"));
const replica = spawn(
  "/usr/bin/redis-server",
  ["--port", String(replicaPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", replicaDir, "--replicaof", "127.0.0.1", String(port)],
  { stdio: "ignore" },
);
const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 1 });
// Connection refusals while redis-server starts are expected: the loop below retries.
client.on("error", () => undefined);
for (let i = 0; i < 100; i++) {
  try {
    await client.connect();
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 50));
  }
}
// The replica must be attached and in sync before WAIT can be measured.
for (let i = 0; i < 200; i++) {
  const info = await client.info("replication");
  if (/connected_slaves:1/.test(info) && /state=online/.test(info)) break;
  await new Promise((r) => setTimeout(r, 50));
}
const used = async () => Number(/used_memory:(\d+)/.exec(await client.info("memory"))[1]);
const ops = new RedisOps(client, { opTimeoutMs: 10_000 });

async function measure(name, append) {
  await client.flushall();
  const before = await used();
  const lat = [];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        const i = next++;
        const t = performance.now();
        await append(i);
        lat.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = await used();
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2);
  return { name, perMessageBytes: Math.round((after - before) / N), appendsPerS: Math.round(N / seconds), p50ms: q(0.5), p99ms: q(0.99) };
}

const users = 100;
const rooms = 100;
const week = 7 * 24 * 3600 * 1000;
const ack = new ReplicaAck(ops, 1, 1000);
const inbox = new RedisInbox(ops, { maxLength: 1_000_000, maxAgeMs: week, idempotencyTtlMs: 600_000 });
const history = new RedisHistory(ops, { maxLength: 1_000_000, ttlMs: week, idempotencyTtlMs: 600_000 });
const inboxAcked = new RedisInbox(ops, { maxLength: 1_000_000, maxAgeMs: week, idempotencyTtlMs: 600_000, replicaAck: ack });
const historyAcked = new RedisHistory(ops, { maxLength: 1_000_000, ttlMs: week, idempotencyTtlMs: 600_000, replicaAck: ack });
const rows = [];
const dm = (i) => ({ from: "s", to: `u${i % users}`, body: BODY, ts: Date.now(), clientMsgId: `c${i}` });
const rm = (i) => ({ from: "s", body: BODY, ts: Date.now(), clientMsgId: `c${i}` });
// Every append carries an idempotency key, as message:send with a clientMsgId does.
rows.push(await measure(`inbox (${users} users)`, (i) => inbox.append(`u${i % users}`, dm(i), { idempotencyKey: `msg:s:c${i}` })));
rows.push(await measure(`inbox, REDIS_ACK_REPLICAS=1`, (i) => inboxAcked.append(`u${i % users}`, dm(i), { idempotencyKey: `msg:s:c${i}` })));
rows.push(await measure(`room history (${rooms} rooms)`, (i) => history.append(`r${i % rooms}`, rm(i), { idempotencyKey: `msg:s:c${i}` })));
rows.push(await measure(`room history, REDIS_ACK_REPLICAS=1`, (i) => historyAcked.append(`r${i % rooms}`, rm(i), { idempotencyKey: `msg:s:c${i}` })));

console.log(
  `cost per stored message: ${N} appends each with an idempotency key, body ${BODY.length} bytes, ${CONCURRENCY} in flight, redis-server on 127.0.0.1:${port} with one replica on ${replicaPort}`,
);
console.log("| store | Redis memory per message | appends/s | append p50 / p99 ms |");
console.log("|---|---|---|---|");
for (const r of rows) console.log(`| ${r.name} | ${r.perMessageBytes} B | ${r.appendsPerS} | ${r.p50ms} / ${r.p99ms} |`);
client.disconnect();
server.kill("SIGKILL");
replica.kill("SIGKILL");
