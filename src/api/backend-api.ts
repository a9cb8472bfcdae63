// The backend HTTP API on the public port: publish, presence, disconnect. Bearer API keys.
// Every refusal is a 4xx JSON answer { error: { code, message } }; nothing here can crash the pod.
import type { HttpRequest, HttpResponse, TemplatedApp } from "uWebSockets.js";
import { z } from "zod";
import { userRoom } from "../auth/room-access.js";
import type { Sent } from "../delivery/message-delivery.js";
import { classify, GatewayError, toErrorBody } from "../errors.js";
import type { ApiRoute } from "../ops/metrics.js";
import { inSpan, startApiSpan, type ActiveSpan } from "../ops/tracing.js";
import { assertBodyWithinBounds } from "../protocol/body-bounds.js";
import type { GatewayContext } from "../protocol/context.js";
import { emitBackendEvent } from "../protocol/session.js";
import { describeIssues, presenceCursor, roomName, userId } from "../protocol/schemas.js";
import type { ApiKeys } from "./api-keys.js";
import { readBody, sendError, sendJson, trackResponse, type ResponseState } from "./http-io.js";

const RESERVED_EVENTS = new Set([
  "connect",
  "connect_error",
  "disconnect",
  "disconnecting",
  "newListener",
  "removeListener",
  "presence",
  "presence:occupancy",
  "typing",
]);

const publishSchema = z
  .strictObject({
    room: roomName.optional(),
    userId: userId.optional(),
    userIds: z.array(userId).min(1).max(1000).optional(),
    event: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9:._-]{0,63}$/, "event must be 1-64 characters, starting with a letter")
      .refine((e) => !RESERVED_EVENTS.has(e) && !e.startsWith("gateway:"), "event name is reserved"),
    data: z.unknown(),
    idempotencyKey: z.string().min(1).max(128).optional(),
  })
  .refine((b) => [b.room, b.userId, b.userIds].filter((x) => x !== undefined).length === 1, "exactly one of room, userId, userIds");
type Publish = z.output<typeof publishSchema>;

/** GET /v1/presence/:room?cursor=&limit= (a limit above PRESENCE_FULL_MAX_USERS is served as a full page). */
const presenceQuery = z.strictObject({
  cursor: presenceCursor.optional(),
  limit: z
    .string()
    .regex(/^[1-9]\d{0,5}$/, "limit must be a positive integer")
    .transform(Number)
    .optional(),
});

const disconnectSchema = z.strictObject({ userId });

const KNOWN_ROUTES = ["/v1/publish", "/v1/disconnect"] as const satisfies readonly ApiRoute[];

interface ApiRequest {
  method: string;
  authorization: string;
  contentType: string;
  contentLength: number | undefined;
}

export function registerBackendApi(app: TemplatedApp, ctx: GatewayContext, keys: ApiKeys): void {
  const limit = ctx.config.maxPayloadBytes;

  /**
   * Starts tracking one request: its answer (or the caller going away) is counted in
   * socketgate_api_requests_total / _duration_seconds and ends its span. Every path below answers
   * through the returned state, refusals included, so every request is counted exactly once.
   */
  const begin = (res: HttpResponse, req: HttpRequest, route: ApiRoute): { state: ResponseState; span?: ActiveSpan } => {
    const state = trackResponse(res, req);
    const started = performance.now();
    // One span per call, child of the caller's `traceparent` header; ended with the answer. Undefined when tracing is off.
    const span = route === "other" ? undefined : startApiSpan(req.getMethod().toUpperCase(), route, req.getHeader("traceparent"));
    state.onDone = (status) => {
      ctx.metrics.recordApiRequest(route, status, (performance.now() - started) / 1000);
      span?.end(status === 0 || status >= 400 ? { code: status === 0 ? "ABORTED" : `HTTP_${status}` } : undefined, { "http.response.status_code": status });
    };
    return { state, span };
  };

  const guard = (res: HttpResponse, req: HttpRequest, route: ApiRoute): { state: ResponseState; request: ApiRequest; span?: ActiveSpan } | undefined => {
    const { state, span } = begin(res, req, route);
    const len = req.getHeader("content-length");
    const request: ApiRequest = {
      method: req.getMethod().toUpperCase(),
      authorization: req.getHeader("authorization"),
      contentType: req.getHeader("content-type"),
      contentLength: /^\d{1,15}$/.test(len) ? Number(len) : undefined,
    };
    if (!keys.enabled) {
      sendError(res, state, 404, { code: "NOT_FOUND", message: "the backend API is disabled: set API_KEYS" });
      return undefined;
    }
    if (!request.authorization) {
      sendError(res, state, 401, { code: "AUTH_REQUIRED", message: "Authorization: Bearer <api key> is required" });
      return undefined;
    }
    if (!keys.check(request.authorization)) {
      sendError(res, state, 401, { code: "AUTH_INVALID", message: "API key is not valid" });
      return undefined;
    }
    return { state, request, span };
  };

  const withJsonBody = (res: HttpResponse, req: HttpRequest, route: ApiRoute, handle: (body: unknown, state: ResponseState) => Promise<unknown>) => {
    const g = guard(res, req, route);
    if (!g) return;
    const { state, request } = g;
    if (!/^application\/json\s*(;.*)?$/i.test(request.contentType))
      return sendError(res, state, 415, { code: "BAD_REQUEST", message: "Content-Type must be application/json" });
    readBody(res, state, limit, request.contentLength)
      .then(async (read) => {
        if (!read.ok) return sendError(res, state, 413, { code: "PAYLOAD_TOO_LARGE", message: `body larger than ${limit} bytes` }, true);
        let body: unknown;
        try {
          body = JSON.parse(read.body.toString("utf8"));
        } catch {
          return sendError(res, state, 400, { code: "BAD_REQUEST", message: "body is not valid JSON" });
        }
        await answer(res, state, () => inSpan(g.span, () => handle(body, state)), ctx.logger);
      })
      // answer() turns every handler failure into a response; this catches only a bug in the plumbing itself.
      .catch((err: unknown) => ctx.logger.error({ err }, "backend API request failed"));
  };

  app.post("/v1/publish", (res, req) =>
    withJsonBody(res, req, "/v1/publish", async (body) => {
      const input = parse(publishSchema, body);
      // Same bounds as a client's message body, before anything is stored or emitted.
      assertBodyWithinBounds(input.data, { maxBodyBytes: ctx.config.maxBodyBytes }, "data");
      // Durable messages carry their idempotency key into each append (per room / per recipient, recorded
      // atomically with it); ephemeral events only suppress a repeated emit.
      if (input.event === "message" || !input.idempotencyKey) return publish(ctx, input);
      return duplicateAware(await ctx.cluster.idempotency.once(`api:${input.idempotencyKey}`, () => publish(ctx, input)));
    }),
  );

  app.post("/v1/disconnect", (res, req) =>
    withJsonBody(res, req, "/v1/disconnect", async (body) => {
      const { userId: target } = parse(disconnectSchema, body);
      // The record first, so a reconnect racing the disconnect already meets it: the user's tokens issued up
      // to now are refused on every pod for KICK_TTL_MS (auth/kicks.ts). disconnect(true) tells socket.io-client
      // not to reconnect: this is a kick, on every pod. It happens even when the record could not be stored;
      // the 503 UNAVAILABLE then makes the backend retry the whole kick.
      try {
        await ctx.cluster.kicks.recordKick(target, Date.now());
      } finally {
        // This pod's sockets directly: the Redis adapter only publishes the request (its own sockets included),
        // so while Redis is unreachable nothing would be cut; then every pod through the adapter.
        ctx.io.local.in(userRoom(target)).disconnectSockets(true);
        ctx.io.in(userRoom(target)).disconnectSockets(true);
      }
      return { userId: target };
    }),
  );

  app.get("/v1/presence/:room", (res, req) => {
    const raw = req.getParameter(0) ?? "";
    // Read before the first await: uWS invalidates the request object when the handler returns.
    const query = { cursor: req.getQuery("cursor") || undefined, limit: req.getQuery("limit") || undefined };
    const g = guard(res, req, "/v1/presence/:room");
    if (!g) return;
    void answer(
      res,
      g.state,
      () =>
        inSpan(g.span, async () => {
          const room = parse(roomName, safeDecode(raw));
          const { cursor, limit } = parse(presenceQuery, query);
          return { room, ...(await ctx.presence.page(room, cursor, limit)) };
        }),
      ctx.logger,
    );
  });

  app.any("/v1/*", (res, req) => {
    const url = req.getUrl();
    // A known path with the wrong method counts under its route (405); anything else is `other` (404).
    const route = KNOWN_ROUTES.find((r) => r === url) ?? (url.startsWith("/v1/presence/") ? "/v1/presence/:room" : undefined);
    const { state } = begin(res, req, route ?? "other");
    if (route) sendError(res, state, 405, { code: "BAD_REQUEST", message: "method not allowed on this path" });
    else sendError(res, state, 404, { code: "NOT_FOUND", message: "unknown API path" });
  });
}

async function publish(ctx: GatewayContext, input: Publish): Promise<Record<string, unknown>> {
  const ts = Date.now();
  const users = input.userIds ?? (input.userId ? [input.userId] : []);
  // `message` is the durable event: stored in room history or each user's inbox, like message:send.
  if (input.event === "message") {
    const message = { from: "server", body: input.data, ts };
    // A retry after a failure at recipient k stores nothing again for recipients 1..k: their first ids.
    const options = input.idempotencyKey ? { idempotencyKey: `api:${input.idempotencyKey}` } : {};
    if (input.room) {
      const { message: stored, duplicate } = await ctx.delivery.toRoom(input.room, message, options);
      return { ids: [stored.id], seq: stored.seq, epoch: stored.epoch, ...(duplicate ? { duplicate: true } : {}) };
    }
    const sent: Sent[] = [];
    for (const u of users) sent.push(await ctx.delivery.toUser(u, message, options));
    return { ids: sent.map((r) => r.message.id), ...(sent.every((r) => r.duplicate) ? { duplicate: true } : {}) };
  }
  const rooms = input.room ? [input.room] : users.map(userRoom);
  emitBackendEvent(ctx.io.to(rooms), input.event, input.data);
  return {};
}

function duplicateAware({ value, duplicate }: { value: Record<string, unknown>; duplicate: boolean }): Record<string, unknown> {
  return duplicate ? { ...value, duplicate: true } : value;
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new GatewayError("BAD_REQUEST", describeIssues(r.error.issues, "invalid request"));
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return "\u0000";
  }
}

async function answer(res: HttpResponse, state: ResponseState, run: () => Promise<unknown>, logger: GatewayContext["logger"]): Promise<void> {
  try {
    const result = (await run()) as Record<string, unknown>;
    sendJson(res, state, 200, { ok: true, ...result });
  } catch (err) {
    const body = toErrorBody(err);
    if (body.code === "INTERNAL") logger.error({ err }, "backend API request failed");
    else if (classify(body.code).fault === "gateway") logger.warn({ code: body.code, message: body.message }, "backend API request refused by the gateway");
    // Anything unexpected is the gateway's fault, but still a readable, retryable answer rather than a reset.
    if (body.code === "INTERNAL")
      sendError(res, state, classify("UNAVAILABLE").httpStatus, { code: "UNAVAILABLE", message: "the request could not be processed: retry" });
    else sendError(res, state, classify(body.code).httpStatus, body);
  }
}
