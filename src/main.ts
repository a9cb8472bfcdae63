#!/usr/bin/env node
// CLI entry: read config, start the gateway, wire signals. Nothing else.
import { ConfigError, helpText, loadConfig } from "./config.js";
import { startGateway } from "./gateway.js";
import { installProcessGuards } from "./lifecycle/process-guards.js";
import { installSignalHandlers } from "./lifecycle/signals.js";
import { StartupError } from "./lifecycle/startup-checks.js";
import { createLogger } from "./ops/logger.js";
import { startTracing } from "./ops/tracing.js";
import { fanOutFaults, testFaultEvents } from "./protocol/test-faults.js";

async function main(): Promise<number | undefined> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(helpText());
    return 0;
  }
  const config = loadConfig(process.env, argv);
  const tracing = await startTracing(process.env);
  const logger = createLogger(config.logLevel);
  logger.info({ tracing: tracing.detail }, tracing.enabled ? "tracing on" : "tracing off");
  if (config.testFaults)
    logger.warn("TEST FAULT EVENTS ENABLED (SOCKETGATE_TEST_FAULTS=1, NODE_ENV=test): test:throw, test:reject, test:slow, test:fail-fanout");
  const gateway = await startGateway(config, { logger, ...(config.testFaults ? { extraEvents: testFaultEvents(), fanOutFaults } : {}) });
  installProcessGuards(logger, gateway.metrics);
  installSignalHandlers(gateway, logger);
  return undefined;
}

main().then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof StartupError) {
      process.stderr.write(`socketgate: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`socketgate: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
