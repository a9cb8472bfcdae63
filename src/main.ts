#!/usr/bin/env node
// CLI entry: read config, start the gateway, wire signals. Nothing else.
import { ConfigError, helpText, loadConfig } from "./config.js";
import { startGateway } from "./gateway.js";
import { installProcessGuards } from "./lifecycle/process-guards.js";
import { installSignalHandlers } from "./lifecycle/signals.js";
import { StartupError } from "./lifecycle/startup-checks.js";
import { createLogger } from "./ops/logger.js";

async function main(): Promise<number | undefined> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(helpText());
    return 0;
  }
  const config = loadConfig(process.env, argv);
  const logger = createLogger(config.logLevel);
  const gateway = await startGateway(config, { logger });
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
