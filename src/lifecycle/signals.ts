// SIGTERM / SIGINT: the first starts the drain, a second one (or the deadline) forces the exit.
import type { Gateway } from "../gateway.js";
import type { Logger } from "../ops/logger.js";

/** Exit code of a forced shutdown: non-zero so the platform sees the drain was cut short. */
export const FORCED_EXIT_CODE = 3;

export function installSignalHandlers(gateway: Gateway, logger: Logger, exit: (code: number) => void = (c) => process.exit(c)): void {
  let draining = false;
  const force = (why: string) => {
    const sockets = gateway.io.of("/").sockets.size;
    logger.error({ why, socketsCut: sockets }, `forced shutdown (${why}): cutting ${sockets} sockets without waiting`);
    logger.flush?.();
    exit(FORCED_EXIT_CODE);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (draining) return force(`second ${signal}`);
    draining = true;
    logger.info({ signal, deadlineMs: gateway.config.drainTimeoutMs }, "shutdown requested");
    setTimeout(() => force("drain deadline passed"), gateway.config.drainTimeoutMs).unref();
    gateway.drain().then(
      () => {
        logger.info("exiting 0");
        logger.flush?.();
        exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, "drain failed");
        exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
