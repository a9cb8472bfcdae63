// Starts a gateway inside the test process, for tests that inject handlers or inspect its internals.
// Broadcasts are delivered per server (src/delivery/local-delivery.ts): several may run in one process.
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config.js";
import { startGateway, type Gateway } from "../../src/gateway.js";
import { createLogger } from "../../src/ops/logger.js";
import type { EventDefinition } from "../../src/protocol/context.js";
import { TEST_API_KEY, TEST_SECRET } from "./tokens.js";

export interface InProcess {
  gateway: Gateway;
  url: string;
  opsUrl: string;
  logs: Array<Record<string, unknown>>;
}

export async function startInProcess(env: Record<string, string> = {}, extraEvents: EventDefinition[] = []): Promise<InProcess> {
  const config = loadConfig({
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    OPS_PORT: "0",
    JWT_SECRET: TEST_SECRET,
    API_KEYS: TEST_API_KEY,
    DRAIN_DELAY_MS: "0",
    DRAIN_WINDOW_MS: "200",
    ...env,
  });
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const gateway = await startGateway(config, { logger: createLogger("debug", sink), extraEvents });
  return { gateway, url: `http://127.0.0.1:${gateway.port}`, opsUrl: `http://127.0.0.1:${gateway.opsPort}`, logs };
}
