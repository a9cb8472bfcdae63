// Process-level safety nets: an error that escapes every handler is logged and counted, never
// silently swallowed. The process carries on: one bad socket must not take the others down.
import type { Logger } from "../ops/logger.js";
import type { GatewayMetrics } from "../ops/metrics.js";

export function installProcessGuards(logger: Logger, metrics: GatewayMetrics): () => void {
  const onException = (err: unknown) => {
    metrics.processErrors.inc({ kind: "uncaughtException" });
    logger.error({ err }, "uncaught exception (process kept running)");
  };
  const onRejection = (reason: unknown) => {
    metrics.processErrors.inc({ kind: "unhandledRejection" });
    logger.error({ err: reason }, "unhandled promise rejection (process kept running)");
  };
  process.on("uncaughtException", onException);
  process.on("unhandledRejection", onRejection);
  return () => {
    process.off("uncaughtException", onException);
    process.off("unhandledRejection", onRejection);
  };
}
