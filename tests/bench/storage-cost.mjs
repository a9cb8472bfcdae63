#!/usr/bin/env node
// Cost per stored message in cluster mode: Redis memory (INFO used_memory delta) and time per append
// for the inbox (direct messages) and the room history, through the gateway's own stores, against a
// real redis-server on a free loopback port. Bounded: N appends each, then the server is killed.
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
const inbox = new RedisInbox(ops, { maxLength: 1_000_000, maxAgeMs: 7 * 24 * 3600 * 1000 });
const history = new RedisHistory(ops, 1_000_000);
const rows = [];
rows.push(await measure(`inbox (${users} users)`, (i) => inbox.append(`u${i % users}`, { from: "s", to: `u${i % users}`, body: BODY, ts: Date.now() })));
rows.push(await measure(`room history (${rooms} rooms)`, (i) => history.append(`r${i % rooms}`, { from: "s", body: BODY, ts: Date.now() })));

console.log(`cost per stored message: ${N} appends each, body ${BODY.length} bytes, ${CONCURRENCY} in flight, redis-server on 127.0.0.1:${port}`);
console.log("| store | Redis memory per message | appends/s | append p50 / p99 ms |");
console.log("|---|---|---|---|");
for (const r of rows) console.log(`| ${r.name} | ${r.perMessageBytes} B | ${r.appendsPerS} | ${r.p50ms} / ${r.p99ms} |`);
client.disconnect();
server.kill("SIGKILL");
