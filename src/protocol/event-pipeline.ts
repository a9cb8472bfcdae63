// The one wrapper around every client event: rate limit, schema check, timing, error isolation,
// ack answer, metrics. Handlers stay plain async functions; a failure here never leaves this socket.
import type { EventAnswer, GatewaySocket } from "./session.js";
import { classify, GatewayError, toErrorBody, type ErrorBody } from "../errors.js";
import type { Outcome } from "../ops/metrics.js";
import { inSpan, splitTraceEnvelope, startEventSpan, type ActiveSpan } from "../ops/tracing.js";
import type { EventDefinition, GatewayContext } from "./context.js";
import { eventLabel, REFRESH_EVENT } from "./event-names.js";
import { describeIssues } from "./schemas.js";

type Ack = (answer: EventAnswer) => void;

/** In-flight handler promises, so a drain can wait for them (and rebalancing can spare busy sockets). */
export class InflightHandlers {
  private readonly pending = new Set<Promise<unknown>>();
  private readonly perSocket = new WeakMap<object, number>();
  track(p: Promise<unknown>, socket?: object): void {
    this.pending.add(p);
    if (socket) this.perSocket.set(socket, (this.perSocket.get(socket) ?? 0) + 1);
    // then(f, f), not finally(): a derived promise from finally() would re-reject unobserved.
    const done = () => {
      this.pending.delete(p);
      if (socket) this.perSocket.set(socket, (this.perSocket.get(socket) ?? 1) - 1);
    };
    p.then(done, done);
  }
  /** Handlers of this socket still running. */
  of(socket: object): number {
    return this.perSocket.get(socket) ?? 0;
  }
  get size(): number {
    return this.pending.size;
  }
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}

type AnyListener = (this: GatewaySocket, name: unknown, ...args: unknown[]) => void;

/**
 * The onAny listener of every socket of a gateway: built once and shared (socket.io calls it with
 * `this` = the socket), so an idle socket holds no per-socket closures of the pipeline.
 */
export function eventListener(events: ReadonlyMap<string, EventDefinition>, ctx: GatewayContext, inflight: InflightHandlers): AnyListener {
  const { metrics, config } = ctx;

  const run = (socket: GatewaySocket, name: string, args: unknown[]): void => {
    const session = socket.data;
    const started = performance.now();
    const label = eventLabel(name);
    const last = args[args.length - 1];
    const ack: Ack | undefined = typeof last === "function" ? (last as Ack) : undefined;
    const envelope = ack && args.length === 1 ? undefined : args[0];
    // A top-level `traceparent` in the payload is trace context, not input: split off before the strict schemas.
    const traced = splitTraceEnvelope(envelope);
    const payload = traced ? traced.payload : envelope;
    // eslint-disable-next-line prefer-const -- set after the rate limit (a flood costs no spans); finish() reads it before that
    let span: ActiveSpan | undefined;

    const finish = (outcome: Outcome, answer: EventAnswer) => {
      metrics.events.inc({ event: label, outcome });
      metrics.eventDuration.observe({ event: label }, (performance.now() - started) / 1000);
      span?.end(outcome === "error" && answer.ok === false ? answer.error : undefined, { "socketgate.outcome": outcome });
      if (!socket.connected) return;
      if (ack) ack(answer);
      else if (answer.ok === false) socket.emit("gateway:error", answer.error);
    };
    const refuse = (outcome: Outcome, error: ErrorBody) => finish(outcome, { ok: false, error });

    if (!session.bucket.take()) return refuse("rate_limited", { code: "RATE_LIMITED", message: `more than ${config.rateLimitEventsPerS} events/s; slow down` });
    // After the rate limit (an expired socket's flood stays limited), before anything else: its token no longer counts.
    if (name !== REFRESH_EVENT && ctx.tokens.expiry.isExpired(session))
      return refuse("rejected", { code: "AUTH_EXPIRED", message: "token expired: send auth:refresh { token } with a new token" });
    // After the rate limit: a flood costs no spans. Undefined when tracing is off.
    span = startEventSpan(label, traced?.traceparent);
    const def = events.get(name);
    if (!def) return refuse("rejected", { code: "UNKNOWN_EVENT", message: `unknown event ${JSON.stringify(name.slice(0, 64))}` });
    const input = def.schema.safeParse(payload ?? {});
    if (!input.success) return refuse("rejected", { code: "BAD_REQUEST", message: describeIssues(input.error.issues, "invalid payload") });

    const work = inSpan(span, () => (async () => def.handle({ ctx, socket, session }, input.data))());
    inflight.track(work, socket);
    // Inside the span too, so the failure log line carries its trace and span ids.
    void inSpan(span, () =>
      work.then(
        (result) => finish("ok", { ok: true, ...result }),
        (err: unknown) => {
          const body = toErrorBody(err);
          if (classify(body.code).fault === "client") return refuse("rejected", body);
          refuse("error", body);
          if (!(err instanceof GatewayError)) onHandlerFailure(socket, name, err, ctx);
        },
      ),
    );
  };

  return function (this: GatewaySocket, name: unknown, ...args: unknown[]) {
    try {
      run(this, typeof name === "string" ? name : String(name), args);
    } catch (err) {
      // Only reachable through a bug in the pipeline itself: still this socket's problem alone.
      onHandlerFailure(this, typeof name === "string" ? name : "unknown", err, ctx);
    }
  };
}

/** Counts an unexpected failure (a "panic") and disconnects the socket once it spends its budget. */
function onHandlerFailure(socket: GatewaySocket, name: string, err: unknown, ctx: GatewayContext): void {
  const session = socket.data;
  ctx.metrics.handlerErrors.inc({ event: eventLabel(name) });
  session.failures += 1;
  ctx.logger.error({ err, event: eventLabel(name), socketId: socket.id, userId: session.identity.userId, failures: session.failures }, "handler failed");
  if (session.failures >= ctx.config.handlerErrorBudget && socket.connected) {
    session.closing = "error_budget";
    socket.emit("gateway:error", { code: "INTERNAL", message: "too many failed events: disconnecting this socket" });
    socket.disconnect(true);
  }
}
