// Tools for attack regression tests: a bystander that measures how long its answers take while an
// attack runs, Redis memory readings, and raw Socket.IO frames for bodies no honest client builds.
import { ask, client, connected, type Client } from "./clients.js";
import { sleep } from "./hardening.js";
import type { GatewayProcess } from "./gateway-process.js";
import { scrape } from "./metrics.js";
import type { RedisNode } from "./redis-harness.js";
import { signToken } from "./tokens.js";

/**
 * A well-behaved socket asking `presence:get` every `everyMs` while an attack runs. stop() reports
 * the slowest answer (ms), how many answers came back, and how many failed or timed out.
 */
export async function watchBystander(url: string, room: string, everyMs = 20) {
  const socket: Client = await connected(client(url, { token: await signToken(`bystander-${Math.random().toString(36).slice(2, 8)}`, { rooms: ["*"] }) }));
  const join = await ask(socket, "room:join", { room });
  if (join.ok !== true) throw new Error(`bystander join failed: ${JSON.stringify(join)}`);
  let running = true;
  let slowestMs = 0;
  let answers = 0;
  let failures = 0;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      try {
        const a = await ask(socket, "presence:get", { room }, 10_000);
        if (a.ok === true) answers++;
        else failures++;
      } catch {
        failures++;
      }
      slowestMs = Math.max(slowestMs, performance.now() - started);
      await sleep(everyMs);
    }
  })();
  return {
    socket,
    async stop() {
      running = false;
      await loop;
      socket.close();
      return { slowestMs: Math.round(slowestMs), answers, failures };
    },
  };
}

/** Redis used_memory in bytes. */
export async function redisUsedMemory(redis: RedisNode): Promise<number> {
  const info = await redis.cli("INFO", "memory");
  const m = /used_memory:(\d+)/.exec(info);
  if (!m) throw new Error(`no used_memory in INFO: ${info.slice(0, 200)}`);
  return Number(m[1]);
}

/** `depth` levels of nested arrays around `leaf`, built as JSON text (no recursion, no deep object). */
export function deepJson(depth: number, leaf = "1"): string {
  return "[".repeat(depth) + leaf + "]".repeat(depth);
}

/** socketgate_handler_errors_total summed over every event label: the panic count an attack must not move. */
export async function handlerErrorsTotal(gw: GatewayProcess): Promise<number> {
  const text = await scrape(gw.opsUrl);
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith("socketgate_handler_errors_total{")) sum += Number(line.split(" ").pop());
  return sum;
}
