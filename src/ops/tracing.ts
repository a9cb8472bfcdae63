// OpenTelemetry tracing: SDK start / flush from the standard OTEL_* variables, and the few span
// helpers the gateway uses (handshake, client event, backend API call, delivery). When tracing is
// off (the default) every helper returns undefined or runs its callback directly: no span objects,
// no context switches and no SDK code loaded on the hot path.
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from "@opentelemetry/api";
import { ConfigError } from "../config.js";

/** What a started SDK exposes to the rest of the process. */
interface TracingStatus {
  enabled: boolean;
  /** Human-readable: exporter, protocol, sampler (for the start-up log line). */
  detail: string;
}

let tracer: Tracer | undefined;
let forceFlush: (() => Promise<void>) | undefined;

/** True once an exporter is configured and the SDK started. Cheap: a module variable read. */
export const tracingEnabled = (): boolean => tracer !== undefined;

const SAMPLERS = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"];
const EXPORTERS = ["otlp", "console", "zipkin", "none"];
const PROTOCOLS = ["grpc", "http/protobuf", "http/json"];

/**
 * Decides from the environment whether tracing is on, and refuses bad values the SDK would
 * otherwise only warn about. Tracing is on when OTEL_TRACES_EXPORTER names an exporter, or when an
 * OTLP endpoint is configured; off when OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
 */
function tracingPlan(env: NodeJS.ProcessEnv): { enabled: boolean; detail: string } {
  const problems: string[] = [];
  const get = (k: string) => {
    const v = env[k]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  const exporters = get("OTEL_TRACES_EXPORTER")
    ?.split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const e of exporters ?? [])
    if (!EXPORTERS.includes(e)) problems.push(`OTEL_TRACES_EXPORTER = ${JSON.stringify(e)}: expected one of ${EXPORTERS.join(", ")}`);
  const sampler = get("OTEL_TRACES_SAMPLER")?.toLowerCase();
  if (sampler !== undefined && !SAMPLERS.includes(sampler))
    problems.push(`OTEL_TRACES_SAMPLER = ${JSON.stringify(sampler)}: expected one of ${SAMPLERS.join(", ")}`);
  const arg = get("OTEL_TRACES_SAMPLER_ARG");
  if (arg !== undefined && !(/^\d*\.?\d+(e-?\d+)?$/i.test(arg) && Number(arg) >= 0 && Number(arg) <= 1))
    problems.push(`OTEL_TRACES_SAMPLER_ARG = ${JSON.stringify(arg)}: expected a ratio from 0 to 1`);
  for (const k of ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"]) {
    const p = get(k);
    if (p !== undefined && !PROTOCOLS.includes(p)) problems.push(`${k} = ${JSON.stringify(p)}: expected one of ${PROTOCOLS.join(", ")}`);
  }
  if (problems.length) throw new ConfigError(problems);

  const disabled = /^(true|1)$/i.test(get("OTEL_SDK_DISABLED") ?? "");
  const endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ?? get("OTEL_EXPORTER_OTLP_ENDPOINT");
  const named = exporters !== undefined && exporters.length > 0 && !exporters.includes("none");
  const enabled = !disabled && exporters?.[0] !== "none" && (named || endpoint !== undefined);
  if (!enabled) return { enabled, detail: disabled ? "off (OTEL_SDK_DISABLED)" : "off (no OTEL_TRACES_EXPORTER or OTLP endpoint configured)" };
  const protocol = get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? get("OTEL_EXPORTER_OTLP_PROTOCOL") ?? "http/protobuf";
  return {
    enabled,
    detail: `exporter=${(exporters ?? ["otlp"]).join(",")} protocol=${protocol} endpoint=${endpoint ?? "(default)"} sampler=${sampler ?? "parentbased_always_on"}${arg ? `:${arg}` : ""}`,
  };
}

/**
 * Starts the OpenTelemetry SDK for traces only (metrics stay on prom-client, logs on pino) when the
 * environment configures an exporter. Call once, before the gateway starts.
 */
export async function startTracing(env: NodeJS.ProcessEnv = process.env): Promise<TracingStatus> {
  const plan = tracingPlan(env);
  if (!plan.enabled || tracer) return plan;
  // Loaded only when needed: the SDK pulls in every exporter, which costs start-up time and memory.
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const named = env.OTEL_SERVICE_NAME || /(^|,)\s*service\.name=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? "");
  const started = new NodeSDK({
    ...(named ? {} : { serviceName: "socketgate" }),
    // Traces only: no OTel metric readers (prom-client serves /metrics) and no OTel log export.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  started.start();
  const provider = trace.getTracerProvider() as { forceFlush?: () => Promise<void>; getDelegate?: () => { forceFlush?: () => Promise<void> } };
  const delegate = provider.getDelegate?.() ?? provider;
  forceFlush = delegate.forceFlush ? () => delegate.forceFlush!() : undefined;
  tracer = trace.getTracer("socketgate");
  return plan;
}

const bounded = (p: Promise<unknown>, ms: number) =>
  Promise.race([
    p.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((r) => setTimeout(r, ms).unref()),
  ]);

/** Exports every ended span (drain: "telemetry flushes"); never waits more than `timeoutMs` on a dead collector. */
export async function flushTracing(timeoutMs = 3000): Promise<void> {
  if (forceFlush) await bounded(forceFlush(), timeoutMs);
}

// ---- W3C trace context ----------------------------------------------------------------------

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** Parses a W3C traceparent header value; undefined for anything malformed (never throws). */
function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== "string" || value.length > 512) return undefined;
  const m = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return undefined;
  return { traceId: traceId!, spanId: spanId!, traceFlags: parseInt(flags!, 16) & TraceFlags.SAMPLED, isRemote: true };
}

function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-0${(sc.traceFlags & TraceFlags.SAMPLED).toString(16)}`;
}

/** The traceparent of the active span when it is sampled (what a broadcast carries to other pods). */
export function activeTraceparent(): string | undefined {
  if (!tracer) return undefined;
  const span = trace.getSpan(context.active());
  if (!span) return undefined;
  const sc = span.spanContext();
  return sc.traceFlags & TraceFlags.SAMPLED ? formatTraceparent(sc) : undefined;
}

/**
 * A client event's envelope: the payload object may carry a top-level `traceparent` string next to
 * its fields. It is removed before the schema check (schemas are strict), whether tracing is on or not,
 * so a client that always sends it gets the same answers from every gateway.
 */
export function splitTraceEnvelope(payload: unknown): { payload: unknown; traceparent: unknown } | undefined {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload) || !Object.hasOwn(payload, "traceparent")) return undefined;
  const { traceparent, ...rest } = payload as Record<string, unknown>;
  return { payload: rest, traceparent };
}

// ---- spans ------------------------------------------------------------------------------------

/** A started span and the context that makes it the parent of work done inside `run`. */
export class ActiveSpan {
  private ended = false;
  constructor(
    readonly span: Span,
    private readonly ctx: Context,
  ) {}

  /** Runs fn with this span active: spans, broadcasts and log lines made inside become its children. */
  run<T>(fn: () => T): T {
    return context.with(this.ctx, fn);
  }

  setAttributes(attributes: Attributes): this {
    this.span.setAttributes(attributes);
    return this;
  }

  /** Ends the span; with `error`, as a failure (status ERROR and the stable error code). */
  end(error?: { code: string; message?: string }, attributes?: Attributes): void {
    if (this.ended) return;
    this.ended = true;
    if (attributes) this.span.setAttributes(attributes);
    if (error) {
      this.span.setAttribute("socketgate.error_code", error.code);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: error.message ?? error.code });
    }
    this.span.end();
  }
}

/**
 * Starts a span, child of `traceparent` when it is a valid W3C value (client or backend supplied),
 * otherwise of the active span, otherwise a new trace. Undefined when tracing is off.
 */
export function startSpan(name: string, kind: SpanKind, traceparent?: unknown, attributes?: Attributes): ActiveSpan | undefined {
  if (!tracer) return undefined;
  const remote = parseTraceparent(traceparent);
  const parent = remote ? trace.setSpanContext(ROOT_CONTEXT, remote) : context.active();
  const span = tracer.startSpan(name, { kind, attributes }, parent);
  // Sampled out: nothing would be exported, so skip the context switch and the bookkeeping as well.
  // (Nothing downstream needs the unsampled context: broadcasts only carry sampled trace context.)
  if (!span.isRecording()) return undefined;
  return new ActiveSpan(span, trace.setSpan(parent, span));
}

/** Runs fn inside the span when there is one, directly otherwise. */
export const inSpan = <T>(span: ActiveSpan | undefined, fn: () => T): T => (span ? span.run(fn) : fn());

export const startHandshakeSpan = (traceparent: unknown, attributes?: Attributes) => startSpan("socketio handshake", SpanKind.SERVER, traceparent, attributes);
/** `label` is the bounded metric label (a known event or "unknown"), so span names stay a closed set too. */
export const startEventSpan = (label: string, traceparent: unknown) => startSpan(`event ${label}`, SpanKind.SERVER, traceparent, { "socketgate.event": label });
export const startApiSpan = (method: string, route: string, traceparent: unknown) =>
  startSpan(`${method} ${route}`, SpanKind.SERVER, traceparent, { "http.request.method": method, "http.route": route });
export const startDeliverSpan = (traceparent: unknown, attributes: Attributes) => startSpan("deliver", SpanKind.CONSUMER, traceparent, attributes);

/** trace_id / span_id of the active span for log lines (pino mixin); a fresh empty object otherwise. */
export function traceLogFields(): Record<string, string> {
  if (!tracer) return {};
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const sc = span.spanContext();
  return { trace_id: sc.traceId, span_id: sc.spanId, trace_flags: `0${(sc.traceFlags & TraceFlags.SAMPLED).toString(16)}` };
}
