// Every Prometheus series of SPEC.md, with closed label sets created at zero at start-up.
import client from "prom-client";
import { CLIENT_EVENTS } from "../protocol/event-names.js";
import { readMemoryLimit } from "./cgroup-memory.js";

export const OUTCOMES = ["ok", "error", "rejected", "rate_limited"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Why a connection was refused or closed abnormally: a fixed list, so the label stays bounded. */
export const FAILURE_REASONS = [
  "auth_required",
  "auth_invalid",
  "auth_expired",
  "capacity",
  "draining",
  "rate_limited",
  "bad_request",
  "cors",
  "transport_error",
  "redis_unavailable",
  "internal",
  "handshake_timeout",
  "payload_too_large",
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export const TRANSPORTS = ["websocket", "polling"] as const;
export type TransportName = (typeof TRANSPORTS)[number];

/** The backend API's routes (uWS route templates): a closed label set; any other /v1 path is `other`. */
export const API_ROUTES = ["/v1/publish", "/v1/presence/:room", "/v1/disconnect", "other"] as const;
export type ApiRoute = (typeof API_ROUTES)[number];

/**
 * HTTP statuses the backend API answers: 200 and every status of the error table (src/errors.ts)
 * plus 405 / 415. `aborted`: the caller went away before the answer; `other`: any status outside
 * this list (none today; it keeps the label closed if one appears).
 */
export const API_STATUSES = ["200", "400", "401", "403", "404", "405", "409", "413", "415", "429", "500", "503", "aborted", "other"] as const;
export type ApiStatus = (typeof API_STATUSES)[number];
const API_STATUS_CODES = new Set<string>(API_STATUSES);

/** The status label of an answer: its code when listed, `aborted` for 0 (no answer sent), else `other`. */
export const apiStatusLabel = (status: number): ApiStatus =>
  status === 0 ? "aborted" : API_STATUS_CODES.has(String(status)) ? (String(status) as ApiStatus) : "other";

/** Latency buckets from 0.5 ms to 10 s: sub-millisecond handlers and the 1 s p95 alert both resolve. */
export const EVENT_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface UwsBuildLabels {
  build: string;
  version: string;
}

const EVENT_LABELS = [...CLIENT_EVENTS, "unknown"] as const;

export class GatewayMetrics {
  readonly registry = new client.Registry();
  readonly connections = new client.Gauge({
    name: "socketgate_connections",
    help: "Open Socket.IO connections on this pod, by transport",
    labelNames: ["transport"],
    registers: [this.registry],
  });
  /** Reads engine.clientsCount at scrape time; set by the gateway once Socket.IO exists. */
  engineSessionCount: () => number = () => 0;
  readonly engineSessions: client.Gauge = new client.Gauge({
    name: "socketgate_engine_sessions",
    help: "Engine.IO sessions open on this pod, authenticated or not: what MAX_CONNECTIONS bounds",
    registers: [this.registry],
    collect: (): void => this.engineSessions.set(this.engineSessionCount()),
  });
  readonly connectionsMax = new client.Gauge({
    name: "socketgate_connections_max",
    help: "Configured MAX_CONNECTIONS of this pod",
    registers: [this.registry],
  });
  readonly connectionAttempts = new client.Counter({
    name: "socketgate_connection_attempts_total",
    help: "Connection attempts: Socket.IO CONNECTs that reached the gateway, and requests or sessions refused before sending one (each failure counts against one)",
    registers: [this.registry],
  });
  readonly connectionFailures = new client.Counter({
    name: "socketgate_connection_failures_total",
    help: "Refused or failed connection attempts, by reason",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly events = new client.Counter({
    name: "socketgate_events_total",
    help: "Client events handled, by event and outcome",
    labelNames: ["event", "outcome"],
    registers: [this.registry],
  });
  readonly eventDuration = new client.Histogram({
    name: "socketgate_event_duration_seconds",
    help: "Time from receiving a client event to answering it",
    labelNames: ["event"],
    buckets: EVENT_DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly handlerErrors = new client.Counter({
    name: "socketgate_handler_errors_total",
    help: "Uncaught exceptions and rejections in handlers (the panic count)",
    labelNames: ["event"],
    registers: [this.registry],
  });
  readonly processErrors = new client.Counter({
    name: "socketgate_process_errors_total",
    help: "uncaughtException / unhandledRejection reaching the process",
    labelNames: ["kind"],
    registers: [this.registry],
  });
  readonly messagesDelivered = new client.Counter({
    name: "socketgate_messages_delivered_total",
    help: "Messages emitted to clients by this pod (one per recipient socket for targeted sends, one per broadcast)",
    registers: [this.registry],
  });
  readonly slowConsumerDisconnects = new client.Counter({
    name: "socketgate_slow_consumer_disconnects_total",
    help: "Sockets cut because their send buffer stayed over the limit",
    registers: [this.registry],
  });
  readonly tokenExpiredDisconnects = new client.Counter({
    name: "socketgate_token_expired_disconnects_total",
    help: "Sockets disconnected because their token expired and no auth:refresh came within TOKEN_REFRESH_GRACE_MS",
    registers: [this.registry],
  });
  readonly rebalanceDisconnects = new client.Counter({
    name: "socketgate_rebalance_disconnects_total",
    help: "Client transports this pod closed to shed load above the fleet mean (the clients reconnect through the Service)",
    registers: [this.registry],
  });
  readonly fanoutHealthy = new client.Gauge({
    name: "socketgate_fanout_healthy",
    help: "1 while live cross-pod fan-out is proven end to end by the pub/sub canary (always 1 in embedded mode)",
    registers: [this.registry],
  });
  readonly fanoutInterruptions = new client.Counter({
    name: "socketgate_fanout_interruptions_total",
    help: "Times the pub/sub canary found live fan-out interrupted (subscription dropped or wedged); each is followed by a resync",
    registers: [this.registry],
  });
  readonly fanoutErrors = new client.Counter({
    name: "socketgate_fanout_errors_total",
    help: "Fan-outs that failed after the message was stored (the send still answered ok; readers catch up from history / inbox)",
    registers: [this.registry],
  });
  readonly redisUp = new client.Gauge({ name: "socketgate_redis_up", help: "1 while Redis answers (always 1 in embedded mode)", registers: [this.registry] });
  readonly draining = new client.Gauge({ name: "socketgate_draining", help: "1 while this pod drains after SIGTERM", registers: [this.registry] });
  readonly memoryLimit = new client.Gauge({
    name: "socketgate_memory_limit_bytes",
    help: "Memory limit from the cgroup (0 when unlimited)",
    registers: [this.registry],
    collect() {
      // Re-read at each scrape (a few small files): an in-place pod resize changes the limit under a running process.
      this.set(readMemoryLimit());
    },
  });
  readonly uwsNative = new client.Gauge({
    name: "socketgate_uws_native",
    help: "1 when the native uWebSockets.js build is in use, 0 on the JavaScript fallback",
    registers: [this.registry],
  });
  readonly uwsBuildInfo = new client.Gauge({
    name: "socketgate_uws_build_info",
    help: "1 for the declared uWebSockets.js build (current|legacy) and uWS version in use, 0 for the others",
    labelNames: ["build", "version"],
    registers: [this.registry],
  });
  readonly apiRequests = new client.Counter({
    name: "socketgate_api_requests_total",
    help: "Backend API requests answered (or aborted by the caller), by route and HTTP status; refusals included",
    labelNames: ["route", "status"],
    registers: [this.registry],
  });
  readonly apiRequestDuration = new client.Histogram({
    name: "socketgate_api_request_duration_seconds",
    help: "Time from receiving a backend API request to answering it (publish includes storing the message)",
    labelNames: ["route"],
    buckets: EVENT_DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly inboxTrimmed = new client.Counter({
    name: "socketgate_inbox_trimmed_total",
    help: "Direct messages dropped by the inbox length or age bound",
    registers: [this.registry],
  });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    // Every labelled series exists from start-up, so rate() and dashboards work before the first event.
    for (const t of TRANSPORTS) this.connections.set({ transport: t }, 0);
    for (const r of FAILURE_REASONS) this.connectionFailures.inc({ reason: r }, 0);
    for (const e of EVENT_LABELS) {
      for (const o of OUTCOMES) this.events.inc({ event: e, outcome: o }, 0);
      this.handlerErrors.inc({ event: e }, 0);
      this.eventDuration.zero({ event: e });
    }
    for (const k of ["uncaughtException", "unhandledRejection"]) this.processErrors.inc({ kind: k }, 0);
    for (const route of API_ROUTES) {
      for (const status of API_STATUSES) this.apiRequests.inc({ route, status }, 0);
      this.apiRequestDuration.zero({ route });
    }
    this.connectionAttempts.inc(0);
    this.messagesDelivered.inc(0);
    this.slowConsumerDisconnects.inc(0);
    this.tokenExpiredDisconnects.inc(0);
    this.rebalanceDisconnects.inc(0);
    this.inboxTrimmed.inc(0);
    this.draining.set(0);
    this.redisUp.set(1);
    this.fanoutHealthy.set(1);
    this.fanoutInterruptions.inc(0);
    this.fanoutErrors.inc(0);
  }

  /** One series per declared uWS build (a closed set, created at 0); the build in use reads 1. */
  setUwsBuild(declared: readonly UwsBuildLabels[], inUse: UwsBuildLabels): void {
    for (const d of declared) this.uwsBuildInfo.set({ build: d.build, version: d.version }, 0);
    this.uwsBuildInfo.set({ build: inUse.build, version: inUse.version }, 1);
  }

  /** One backend API request: its answer's status (0 when the caller went away first) and how long it took. */
  recordApiRequest(route: ApiRoute, status: number, seconds: number): void {
    this.apiRequests.inc({ route, status: apiStatusLabel(status) });
    this.apiRequestDuration.observe({ route }, seconds);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
