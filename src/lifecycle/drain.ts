// The SIGTERM sequence of SPEC.md: not ready at once, close the listener after a delay, warn the
// clients, close their transports in spread batches (so they reconnect elsewhere without a storm),
// finish in-flight work, settle presence, flush shared state. Every step is logged.
import type { GatewaySocket } from "../protocol/session.js";
import type { Logger } from "../ops/logger.js";

export interface DrainTarget {
  delayMs: number;
  windowMs: number;
  logger: Logger;
  markDraining(): void;
  closeListener(): void;
  localSockets(): GatewaySocket[];
  /** Resolves once in-flight handlers and presence grace timers are done. */
  settleWork(): Promise<void>;
  /** Closes adapter, stores, telemetry: everything that must flush before exit. */
  closeResources(): Promise<void>;
}

export interface DrainPlan {
  /** Milliseconds after the listener closes at which each socket's transport is closed. */
  offsets: number[];
}

/** Spreads n closes evenly over the window with up to half a slot of jitter each. */
export function planCloses(n: number, windowMs: number, random: () => number = Math.random): DrainPlan {
  if (n === 0) return { offsets: [] };
  const slot = windowMs / n;
  const offsets = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(windowMs, i * slot + (random() - 0.5) * slot)));
  return { offsets };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export async function drain(t: DrainTarget): Promise<void> {
  const started = Date.now();
  const log = t.logger.child({ phase: "drain" });
  t.markDraining();
  log.info({ delayMs: t.delayMs, windowMs: t.windowMs }, "draining: readiness is now 503");
  await sleep(t.delayMs);

  t.closeListener();
  const sockets = t.localSockets();
  log.info({ sockets: sockets.length }, "listener closed; closing client transports in batches");
  const { offsets } = planCloses(sockets.length, t.windowMs);
  const closed = sockets.map(
    (socket, i) =>
      new Promise<void>((resolve) => {
        if (!socket.connected) return resolve();
        socket.once("disconnect", () => resolve());
        socket.emit("gateway:draining", { reconnectInMs: Math.round(offsets[i]!) });
        setTimeout(() => {
          if (!socket.connected) return;
          socket.data.closing = "drain";
          // Transport close, never socket.disconnect(): socket.io-client reconnects only after the former.
          // A long-polling client may never poll this pod again (the balancer stops routing to a pod that
          // is not ready): discard its transport instead of waiting up to 30 s for a poll to carry the close.
          socket.conn.close(socket.conn.transport.name === "polling");
        }, offsets[i]!).unref();
      }),
  );
  await Promise.all(closed);
  log.info({ sockets: sockets.length, ms: Date.now() - started }, "every client transport closed");

  await t.settleWork();
  log.info("in-flight handlers finished and presence settled");
  await t.closeResources();
  log.info({ ms: Date.now() - started }, "drain complete");
}
