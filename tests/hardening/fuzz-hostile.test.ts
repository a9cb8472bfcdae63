// Fuzzing the attacks of issue 12 (seeded, bounded): binary attachments around MAX_BODY_BYTES with lying
// headers, bodies and API data nested 30..5000 levels, and many-CONNECT sequences on one Engine.IO session.
// The attacker gets a clear refusal (a coded answer or a clean close), the process stays up, bystanders'
// answers stay fast and lose nothing, and no handler ever panics.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/errors.js";
import { ask, client, closeAll, connected } from "../support/clients.js";
import { startGatewayProcess, TEST_API_KEY, type GatewayProcess } from "../support/gateway-process.js";
import { alive, badLogs, healthy, http, pollingOpen, pollUrl, RawSocket, startBystanders } from "../support/hardening.js";
import { handlerErrorsTotal, watchBystander } from "../support/hostile.js";
import { metricValue, scrape } from "../support/metrics.js";
import { signToken } from "../support/tokens.js";

const SEED = Number(process.env.FUZZ_SEED ?? 1207);
const ATTACHMENT_CASES = Number(process.env.FUZZ_ATTACHMENT_CASES ?? 150);
const DEPTH_CASES = Number(process.env.FUZZ_DEPTH_CASES ?? 200);
const CONNECT_CASES = Number(process.env.FUZZ_CONNECT_CASES ?? 120);
const MAX_BODY = 65536;
const MAX_DEPTH = 32;
/** Generous for a shared 2-core machine: what a bystander may wait for an answer while the attack runs. */
const BYSTANDER_BOUND_MS = 500;
/** The parser's own bound on attachments per packet (transport/public-server.ts). */
const MAX_ATTACHMENTS = 10;

let gw: GatewayProcess;
let token: string;
let handlerErrorsBefore = 0;
const report: Record<string, unknown> = {};

const handlerErrors = () => handlerErrorsTotal(gw);

beforeAll(async () => {
  gw = await startGatewayProcess({
    env: { RATE_LIMIT_EVENTS_PER_S: "100000", RATE_LIMIT_BURST: "100000", MAX_BODY_BYTES: String(MAX_BODY), CONNECT_TIMEOUT_MS: "3000" },
  });
  token = await signToken("hostile-fuzzer", { rooms: ["fh:*"] });
  handlerErrorsBefore = await handlerErrors();
});

afterAll(async () => {
  closeAll();
  await gw?.stop();
  console.log(`[hardening] fuzz-hostile (seed ${SEED}): ${JSON.stringify(report)}`);
});

/** A raw WebSocket socket, admitted and joined to `room`. */
async function attacker(room: string): Promise<RawSocket> {
  const raw = new RawSocket(gw.url);
  const answer = await raw.handshake({ token });
  if (!answer?.startsWith("40")) throw new Error(`fuzz socket not admitted: ${answer}`);
  raw.send(`421["room:join",{"room":"${room}"}]`);
  if (!(await raw.next((f) => f.startsWith("431[")))?.includes('"ok":true')) throw new Error("fuzz socket could not join");
  return raw;
}

let probeId = 800_000_000;
/** A known-good acked event after the attack frames: answered while the connection lives, or the close is seen. */
async function probe(raw: RawSocket, room: string): Promise<"answered" | "closed"> {
  const id = probeId++;
  raw.send(`42${id}["presence:get",{"room":"${room}"}]`);
  if (await raw.next((f) => f.startsWith(`43${id}[`), 10_000)) return "answered";
  if (await raw.waitClosed(5000)) return "closed";
  throw new Error("connection neither answered a valid event nor closed");
}

type Answer = { ok: boolean; error?: { code: string; message: string } };
function answerOf(frame: string | undefined): Answer | undefined {
  if (!frame) return undefined;
  const m = /^43\d+(\[.*)$/s.exec(frame);
  return m ? (JSON.parse(m[1]!) as [Answer])[0] : undefined;
}

function expectCleanClose(raw: RawSocket): void {
  expect(alive(gw)).toBe(true);
  // engine.io ends the transport with a close frame (1005 "no status" or 1000), never a dropped TCP connection (1006).
  expect([1000, 1005], `close code ${raw.closed?.code}`).toContain(raw.closed?.code);
}

/** Reads a room's whole history through catch-up pages (bounded): how many messages were stored. */
async function storedCount(room: string): Promise<number> {
  const reader = await connected(client(gw.url, { token: await signToken("fh-reader", { rooms: ["fh:*"] }) }));
  let since: unknown = 0;
  let count = 0;
  for (let page = 0; page < 200; page++) {
    const a = await ask<{ ok: boolean; messages: unknown[]; messagesMore?: boolean; nextSince?: unknown }>(reader, "room:join", { room, since }, 10_000);
    expect(a.ok).toBe(true);
    count += a.messages.length;
    if (!a.messagesMore) break;
    since = a.nextSince;
  }
  reader.close();
  return count;
}

// ---- binary attachments ------------------------------------------------------------------------

const attachmentSize = fc.oneof(
  fc.constantFrom(0, 1, 1024, MAX_BODY / 2, MAX_BODY / 10, MAX_BODY - 64, MAX_BODY - 1, MAX_BODY, MAX_BODY + 1, 2 * MAX_BODY),
  fc.integer({ min: 0, max: 2 * MAX_BODY }),
);
/** What the attacker claims (header count, placeholder nums) and what it actually sends. */
const lyingCase = fc.record({
  declared: fc.integer({ min: 0, max: 12 }),
  sizes: fc.array(attachmentSize, { minLength: 0, maxLength: 12 }),
  /** Placeholder nums in the body: honest (0..declared-1), or lying (out of range, negative, non-integer, missing). */
  nums: fc.oneof(fc.constant("honest" as const), fc.array(fc.oneof(fc.integer({ min: -2, max: 14 }), fc.constant(0.5)), { minLength: 0, maxLength: 12 })),
  event: fc.constantFrom("message:send", "typing", "auth:refresh"),
});
/** A well-formed upload of 1..10 attachments whose total lands on either side of MAX_BODY_BYTES. */
const honestCase = fc.integer({ min: 1, max: MAX_ATTACHMENTS }).chain((n) =>
  fc.record({
    declared: fc.constant(n),
    sizes: fc.array(fc.integer({ min: 0, max: Math.ceil((1.2 * MAX_BODY) / n) }), { minLength: n, maxLength: n }),
    nums: fc.constant("honest" as const),
    event: fc.constant("message:send"),
  }),
);
const attachmentCase = fc.oneof({ weight: 1, arbitrary: honestCase }, { weight: 2, arbitrary: lyingCase });

describe("fuzz: binary attachments around MAX_BODY_BYTES, counts 0..12, lying headers", () => {
  it(`${ATTACHMENT_CASES} cases: never stored past the bound, answered or cleanly cut, bystanders untouched`, { timeout: 120_000 }, async () => {
    const room = "fh:att";
    const watch = await watchBystander(gw.url, "fh-calm-att");
    const calm = await startBystanders(gw);
    let raw = await attacker(room);
    const tally = { okStored: 0, badRequest: 0, otherRefusal: 0, closed: 0, honestWithin: 0 };
    await fc.assert(
      fc.asyncProperty(attachmentCase, async (c) => {
        if (raw.closed) raw = await attacker(room);
        const nums = c.nums === "honest" ? Array.from({ length: c.declared }, (_, i) => i) : c.nums;
        const placeholders = nums.map((num) => ({ _placeholder: true, num }));
        const payload =
          c.event === "message:send" ? { room, body: placeholders } : c.event === "typing" ? { room, isTyping: placeholders } : { token: placeholders };
        const id = probeId++;
        raw.send(`45${c.declared}-${id}${JSON.stringify([c.event, payload])}`);
        for (const [i, size] of c.sizes.entries()) raw.send(Buffer.alloc(size, i));
        const result = await probe(raw, room);
        const answer = answerOf(raw.frames.find((f) => f.startsWith(`43${id}[`)));
        raw.frames.length = 0;

        const consumed = c.sizes.slice(0, c.declared);
        const attachmentBytes = consumed.reduce((a, b) => a + b, 0);
        if (answer) {
          if (!answer.ok) expect(ERROR_CODES as readonly string[]).toContain(answer.error!.code);
          expect(answer.error?.code).not.toBe("INTERNAL");
        }
        // Past the bound, nothing is ever accepted; over 10 attachments the header alone cuts the session.
        if (attachmentBytes > MAX_BODY || c.declared > MAX_ATTACHMENTS) expect(answer?.ok ?? false).toBe(false);
        if (c.declared > MAX_ATTACHMENTS) expect(result).toBe("closed");
        if (c.event === "message:send" && answer?.ok) tally.okStored++;
        else if (answer?.error?.code === "BAD_REQUEST") tally.badRequest++;
        else if (answer) tally.otherRefusal++;
        if (result === "closed") {
          tally.closed++;
          expectCleanClose(raw);
        }
        // An honest packet within the bound is served: the bounds refuse attacks, not uploads.
        const honest = c.nums === "honest" && c.declared >= 1 && c.declared <= MAX_ATTACHMENTS && c.sizes.length === c.declared;
        if (honest && c.event === "message:send" && attachmentBytes + 2 + c.declared < MAX_BODY) {
          tally.honestWithin++;
          expect(answer, JSON.stringify({ ...c, sizes: c.sizes })).toMatchObject({ ok: true });
          expect(result).toBe("answered");
        }
      }),
      { numRuns: ATTACHMENT_CASES, seed: SEED, endOnFailure: true },
    );
    raw.close();
    const stats = await watch.stop();
    const calmResult = await calm.stop();
    report.attachments = { cases: ATTACHMENT_CASES, ...tally, bystanderSlowestMs: stats.slowestMs };
    expect(await storedCount(room)).toBe(tally.okStored);
    expect(tally.honestWithin).toBeGreaterThan(0);
    expect(tally.closed).toBeGreaterThan(0);
    expect(stats.failures).toBe(0);
    expect(stats.slowestMs).toBeLessThan(BYSTANDER_BOUND_MS);
    expect(calmResult.lost, JSON.stringify(calmResult)).toBe(0);
    expect(calmResult.disconnects).toEqual([]);
    expect(await handlerErrors()).toBe(handlerErrorsBefore);
  });
});

// ---- deep nesting ------------------------------------------------------------------------------

/** JSON text `depth` containers deep (arrays, objects or both), built without recursion. */
function nested(depth: number, shape: "array" | "object" | "mixed", leaf: string): string {
  let open = "";
  let close = "";
  for (let i = 0; i < depth; i++) {
    const obj = shape === "object" || (shape === "mixed" && i % 2 === 1);
    open += obj ? '{"k":' : "[";
    close = (obj ? "}" : "]") + close;
  }
  return open + leaf + close;
}
const depthCase = fc.record({
  depth: fc.oneof(fc.constantFrom(30, 31, 32, 33, 34, 64, 1000, 3000, 5000), fc.integer({ min: 30, max: 5000 })),
  shape: fc.constantFrom("array" as const, "object" as const, "mixed" as const),
  leaf: fc.constantFrom("1", '"x"', "null", "[]", "{}"),
  where: fc.constantFrom("room body" as const, "direct body" as const, "api message" as const, "api event" as const, "other field" as const),
});

describe("fuzz: bodies and API data nested 30..5000 levels", () => {
  it(`${DEPTH_CASES} cases: accepted up to ${MAX_DEPTH} levels, BAD_REQUEST / HTTP 400 past it, nothing deep stored`, { timeout: 120_000 }, async () => {
    const room = "fh:deep";
    const watch = await watchBystander(gw.url, "fh-calm-deep");
    const raw = await attacker(room);
    const tally = { accepted: 0, refused: 0, storedInRoom: 0 };
    await fc.assert(
      fc.asyncProperty(depthCase, async (c) => {
        // An empty container leaf adds a level: `[]` inside 32 arrays is 33 deep.
        const depth = c.depth + (c.leaf === "[]" || c.leaf === "{}" ? 1 : 0);
        const value = nested(c.depth, c.shape, c.leaf);
        const within = depth <= MAX_DEPTH;
        if (c.where === "api message" || c.where === "api event") {
          const body = `{"room":"${room}","event":"${c.where === "api message" ? "message" : "fh-note"}","data":${value}}`;
          const a = await http(`${gw.url}/v1/publish`, {
            method: "POST",
            headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
            body,
          });
          if ("error" in a) throw new Error(a.error);
          expect(a.status, `${c.where} depth ${depth}`).toBe(within ? 200 : 400);
          if (!within) expect(JSON.parse(a.body)).toMatchObject({ error: { code: "BAD_REQUEST" } });
          if (within && c.where === "api message") tally.storedInRoom++;
        } else {
          const id = probeId++;
          const frame =
            c.where === "room body"
              ? `42${id}["message:send",{"room":"${room}","body":${value}}]`
              : c.where === "direct body"
                ? `42${id}["message:send",{"to":"fh-victim","body":${value}}]`
                : `42${id}["room:join",{"room":${value}}]`;
          raw.send(frame);
          const answer = answerOf(await raw.next((f) => f.startsWith(`43${id}[`), 10_000));
          expect(answer, `${c.where} depth ${depth}`).toBeDefined();
          if (c.where === "other field") expect(answer).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
          else if (within) expect(answer).toMatchObject({ ok: true });
          else expect(answer).toMatchObject({ ok: false, error: { code: "BAD_REQUEST", message: expect.stringContaining("nested deeper") } });
          if (within && c.where === "room body") tally.storedInRoom++;
        }
        if (within && c.where !== "other field") tally.accepted++;
        else tally.refused++;
      }),
      { numRuns: DEPTH_CASES, seed: SEED, endOnFailure: true },
    );
    expect(raw.isOpen).toBe(true);
    raw.close();
    // The victim's inbox and the room's catch-up answer at once: nothing poisonous was stored.
    const victim = await connected(client(gw.url, { token: await signToken("fh-victim", { rooms: ["fh:*"] }) }));
    expect(await ask(victim, "message:unacked", {}, 2000)).toMatchObject({ ok: true });
    victim.close();
    expect(await storedCount(room)).toBe(tally.storedInRoom);
    const stats = await watch.stop();
    report.depth = { cases: DEPTH_CASES, ...tally, bystanderSlowestMs: stats.slowestMs };
    expect(tally.accepted).toBeGreaterThan(0);
    expect(tally.refused).toBeGreaterThan(0);
    expect(stats.failures).toBe(0);
    expect(stats.slowestMs).toBeLessThan(BYSTANDER_BOUND_MS);
    expect(await handlerErrors()).toBe(handlerErrorsBefore);
  });
});

// ---- many CONNECTs on one Engine.IO session ----------------------------------------------------

const connectStep = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("connect", "connect other", "connect forged", "connect admin") },
  { weight: 3, arbitrary: fc.constantFrom("event", "pong") },
);
const connectCase = fc.record({
  transport: fc.constantFrom("websocket" as const, "polling" as const),
  steps: fc.array(connectStep, { minLength: 2, maxLength: 40 }),
});

describe("fuzz: many CONNECT packets on one Engine.IO session, interleaved with events", () => {
  it(`${CONNECT_CASES} sequences: at most one socket per session, the second CONNECT cuts it, sessions do not pile up`, { timeout: 120_000 }, async () => {
    const watch = await watchBystander(gw.url, "fh-calm-connect");
    const forged = await signToken("fh-mallory", { rooms: ["fh:*"] }, { secret: "not-the-gateway-secret-0123456789abcdef" });
    const other = await signToken("fh-other", { rooms: ["fh:*"] });
    const sessionsBefore = metricValue(await scrape(gw.opsUrl), "socketgate_engine_sessions") ?? 0;
    // Sockets the gateway created for the attacker's sessions, from its "connected" log lines (one per socket).
    const socketsCreated = () => gw.logs.filter((l) => l.msg === "connected" && (l.userId === "hostile-fuzzer" || l.userId === "fh-other")).length;
    const socketsBefore = socketsCreated();
    const tally = { websocket: 0, polling: 0, connectsSent: 0, sessionsWithConnect: 0, socketsAnswered: 0, eventsAnswered: 0 };
    /** Engine.IO frames ("4" = message) carrying Socket.IO packets ("0" CONNECT, "2" EVENT). */
    const packetOf = (step: string, n: number): string => {
      if (step === "connect") return `40${JSON.stringify({ token })}`;
      if (step === "connect other") return `40${JSON.stringify({ token: other })}`;
      if (step === "connect forged") return `40${JSON.stringify({ token: forged })}`;
      if (step === "connect admin") return `40/admin,${JSON.stringify({ token })}`;
      if (step === "event") return `42${n}["presence:get",{"room":"fh:c"}]`;
      // An unsolicited Engine.IO pong: harmless, but another packet between the CONNECTs.
      return "3";
    };
    await fc.assert(
      fc.asyncProperty(connectCase, async (c) => {
        tally[c.transport]++;
        const connects = c.steps.filter((s) => s.startsWith("connect")).length;
        tally.connectsSent += connects;
        if (c.steps.some((st) => st === "connect" || st === "connect other")) tally.sessionsWithConnect++;
        let frames: string[];
        if (c.transport === "websocket") {
          const raw = new RawSocket(gw.url);
          await raw.opened;
          expect(await raw.next((f) => f.startsWith("0"))).toBeDefined();
          for (const [n, step] of c.steps.entries()) raw.send(packetOf(step, n));
          if (connects > 1) expect(await raw.waitClosed(5000), "a second CONNECT closes the session").toBeDefined();
          else await raw.next(() => false, 300);
          frames = [...raw.frames];
          if (raw.closed) expectCleanClose(raw);
          raw.close();
        } else {
          const { sid } = await pollingOpen(gw.url);
          expect(sid).toBeDefined();
          const body = c.steps.map((s, n) => packetOf(s, n)).join("\x1e");
          const post = await http(pollUrl(gw.url, sid!), { method: "POST", headers: { "content-type": "text/plain;charset=UTF-8" }, body, timeoutMs: 5000 });
          if ("error" in post) throw new Error(post.error);
          expect(post.status, post.body).toBeLessThan(500);
          const poll = await http(pollUrl(gw.url, sid!), { timeoutMs: 5000 });
          frames = "error" in poll || poll.status !== 200 ? [] : poll.body.split("\x1e");
          // Leave nothing open: the session is closed (Engine.IO "1") if it still lives.
          await http(pollUrl(gw.url, sid!), { method: "POST", headers: { "content-type": "text/plain;charset=UTF-8" }, body: "1", timeoutMs: 2000 });
        }
        const answered = frames.filter((f) => /^40(\{|$)/.test(f) || f.startsWith("40/admin,")).length;
        tally.socketsAnswered += answered;
        tally.eventsAnswered += frames.filter((f) => f.startsWith("43")).length;
        // One Socket.IO connection per Engine.IO session, whatever the sequence.
        expect(answered, JSON.stringify({ steps: c.steps, frames: frames.map((f) => f.slice(0, 40)) })).toBeLessThanOrEqual(1);
        for (const f of frames.filter((x) => x.startsWith("43"))) {
          const a = answerOf(f)!;
          if (!a.ok) expect(ERROR_CODES as readonly string[]).toContain(a.error!.code);
        }
      }),
      { numRuns: CONNECT_CASES, seed: SEED, endOnFailure: true },
    );
    const stats = await watch.stop();
    // Every session of the attack is gone again: none piles up against MAX_CONNECTIONS (CONNECT_TIMEOUT_MS is 3 s here).
    let sessions = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 100 && sessions > sessionsBefore; i++) {
      sessions = metricValue(await scrape(gw.opsUrl), "socketgate_engine_sessions") ?? 0;
      if (sessions > sessionsBefore) await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 200)); // the last log lines
    const sockets = socketsCreated() - socketsBefore;
    report.connects = { cases: CONNECT_CASES, ...tally, socketsCreated: sockets, bystanderSlowestMs: stats.slowestMs };
    expect(sessions).toBeLessThanOrEqual(sessionsBefore);
    // At most one socket per session with a valid CONNECT: never one per CONNECT packet.
    expect(sockets).toBeLessThanOrEqual(tally.sessionsWithConnect);
    expect(tally.connectsSent).toBeGreaterThan(tally.sessionsWithConnect);
    expect(stats.failures).toBe(0);
    expect(stats.slowestMs).toBeLessThan(BYSTANDER_BOUND_MS);
    expect(await handlerErrors()).toBe(handlerErrorsBefore);
  });

  it("kept the process healthy: no uncaught errors, no handler panics, no error logs", async () => {
    expect(await healthy(gw)).toBe(true);
    const text = await scrape(gw.opsUrl);
    expect(metricValue(text, "socketgate_process_errors_total", { kind: "uncaughtException" })).toBe(0);
    expect(metricValue(text, "socketgate_process_errors_total", { kind: "unhandledRejection" })).toBe(0);
    expect(await handlerErrors()).toBe(handlerErrorsBefore);
    expect(badLogs(gw)).toEqual([]);
  });
});
