// Fuzzing the wire: random and mutated Engine.IO / Socket.IO frames and random event payloads thrown
// at a running gateway. The process never dies, each bad input gets an error answer or a clean
// close, and bystander sockets in the same process lose nothing.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/errors.js";
import { ask, client, closeAll, connected } from "../support/clients.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { signToken } from "../support/tokens.js";
import { alive, assertNoLeak, badLogs, healthy, RawSocket, startBystanders } from "../support/hardening.js";

const FRAME_CASES = Number(process.env.FUZZ_FRAME_CASES ?? 5000);
const PAYLOAD_CASES = Number(process.env.FUZZ_PAYLOAD_CASES ?? 5000);
const EVENTS = ["room:join", "room:leave", "message:send", "typing", "message:ack", "message:unacked", "presence:get", "auth:refresh"];

let gw: GatewayProcess;
let token: string;
const report: Record<string, number> = {};

beforeAll(async () => {
  gw = await startGatewayProcess({
    env: { RATE_LIMIT_EVENTS_PER_S: "100000", RATE_LIMIT_BURST: "100000", MAX_PAYLOAD_BYTES: "65536", CONNECT_TIMEOUT_MS: "3000" },
  });
  token = await signToken("fuzzer", { rooms: ["fz:*", "calm:*"] });
});

afterAll(async () => {
  closeAll();
  await gw?.stop();
  console.log(`[hardening] fuzz-wire cases: ${JSON.stringify(report)}`);
});

// ---- generators -------------------------------------------------------------------------------

const roomish = fc.oneof(fc.constantFrom("fz:a", "fz:b", "calm:x", "#u:someone", "", "*", "fz:" + "x".repeat(200)), fc.string({ maxLength: 40 }));
const payload = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.record({ room: roomish, body: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] }),
  fc.record({ room: roomish, since: fc.oneof(fc.integer(), fc.double(), fc.string()) }, { requiredKeys: ["room"] }),
  fc.record({ to: fc.string({ maxLength: 140 }), body: fc.anything({ maxDepth: 2 }), clientMsgId: fc.string({ maxLength: 200 }) }, { requiredKeys: [] }),
  fc.record({ ids: fc.array(fc.oneof(fc.string({ maxLength: 300 }), fc.integer()), { maxLength: 20 }) }),
  fc.record({ room: roomish, isTyping: fc.oneof(fc.boolean(), fc.string()) }),
  fc.record({ limit: fc.oneof(fc.integer(), fc.double(), fc.constant(null)) }),
  fc.constant({ ["__proto__"]: { polluted: true } }),
);
const eventName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...EVENTS) },
  fc.constantFrom("connect", "disconnect", "error", "__proto__", "constructor", "gateway:draining", "newListener"),
  fc.string({ maxLength: 70 }),
);

/** A well-formed Socket.IO frame, then maybe mutated byte by byte. */
const validFrame = fc
  .tuple(eventName, payload, fc.option(fc.nat({ max: 1e6 }), { nil: undefined }))
  .map(([name, p, ack]) => `42${ack ?? ""}${JSON.stringify([name, p])}`);
const mutation = fc.record({
  op: fc.constantFrom("insert", "delete", "replace", "truncate", "dup"),
  at: fc.nat(),
  ch: fc.string({ minLength: 1, maxLength: 3, unit: "binary" }),
});
const mutatedFrame = fc.tuple(validFrame, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([f, muts]) => {
  let s = f;
  for (const m of muts) {
    const i = s.length ? m.at % s.length : 0;
    if (m.op === "insert") s = s.slice(0, i) + m.ch + s.slice(i);
    else if (m.op === "delete") s = s.slice(0, i) + s.slice(i + 1);
    else if (m.op === "replace") s = s.slice(0, i) + m.ch + s.slice(i + 1);
    else if (m.op === "truncate") s = s.slice(0, i);
    else s = s + s;
  }
  return s;
});
const structuredFrame = fc
  .tuple(
    fc.integer({ min: 0, max: 9 }),
    fc.integer({ min: 0, max: 9 }),
    fc.constantFrom("", "/", "/admin,", "/x,", "/socket.io,"),
    fc.constantFrom("", "1", "99999999999999999999", "-1", "1-"),
    fc.jsonValue({ maxDepth: 3 }),
  )
  .map(([e, s, nsp, ack, j]) => `${e}${s}${nsp}${ack}${JSON.stringify(j)}`);
const binaryPlaceholder = fc
  .tuple(fc.constantFrom("451-", "450-", "459-", "46", "45-1-", "4599999999-"), fc.nat({ max: 5 }), fc.constantFrom(...EVENTS))
  .map(([head, num, ev]) => `${head}["${ev}",{"room":"fz:a","body":{"_placeholder":true,"num":${num}}}]`);
const frame = fc.oneof(
  { weight: 3, arbitrary: validFrame },
  { weight: 3, arbitrary: mutatedFrame },
  { weight: 2, arbitrary: structuredFrame },
  { weight: 1, arbitrary: binaryPlaceholder },
  { weight: 1, arbitrary: fc.string({ maxLength: 200, unit: "binary" }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "",
      "2",
      "3",
      "4",
      "5",
      "6",
      "1",
      "2probe",
      "3probe",
      "40",
      "41",
      "4",
      "4x",
      "0",
      "42",
      "42[]",
      "42{}",
      "42[1]",
      "42null",
      '42["a"',
      "43[]",
      "431[]",
    ),
  },
);

// ---- helpers ------------------------------------------------------------------------------------

async function authedRaw(): Promise<RawSocket> {
  const raw = new RawSocket(gw.url);
  const answer = await raw.handshake({ token });
  if (!answer?.startsWith("40")) throw new Error(`fuzz socket not admitted: ${answer}`);
  return raw;
}

let probeId = 900_000_000;
/** A known-good acked event: answered while the connection lives, or the close is seen. */
async function probe(raw: RawSocket): Promise<"answered" | "closed"> {
  const id = probeId++;
  raw.send(`42${id}["presence:get",{"room":"fz:a"}]`);
  const got = await raw.next((f) => f.startsWith(`43${id}[`), 10_000);
  if (got) return "answered";
  const closed = await raw.waitClosed(5000);
  if (closed) return "closed";
  throw new Error("connection neither answered a valid event nor closed");
}

function checkAnswerFrame(f: string): void {
  assertNoLeak(f, "ack answer");
  const m = /^43\d+(\[.*)$/s.exec(f);
  if (!m) return;
  const [answer] = JSON.parse(m[1]!) as [{ ok: boolean; error?: { code: string; message: string } }];
  expect(typeof answer.ok).toBe("boolean");
  if (!answer.ok) {
    expect(ERROR_CODES as readonly string[]).toContain(answer.error!.code);
    expect(typeof answer.error!.message).toBe("string");
  }
}

// ---- tests --------------------------------------------------------------------------------------

describe("fuzz: raw Engine.IO / Socket.IO frames", () => {
  it(`survives ${FRAME_CASES} random and mutated frame sequences with bystanders untouched`, { timeout: 60_000 }, async () => {
    const calm = await startBystanders(gw);
    let raw = await authedRaw();
    const outcomes = { answered: 0, closed: 0 };
    const closeCodes = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 4 }), async (frames) => {
        if (raw.closed) raw = await authedRaw();
        for (const f of frames) raw.send(f);
        const r = await probe(raw);
        outcomes[r]++;
        for (const f of raw.frames.splice(0)) if (f.startsWith("43")) checkAnswerFrame(f);
        for (const f of raw.frames.splice(0)) assertNoLeak(f, "gateway frame");
        if (r === "closed") {
          // A clean close: engine.io ends the transport with a WebSocket close frame (1005 "no status"
          // or 1000 to the client), never a dropped TCP connection (1006) or a crash of the process.
          expect(alive(gw)).toBe(true);
          expect([1000, 1005], `close code ${raw.closed!.code} ${raw.closed!.reason}`).toContain(raw.closed!.code);
          closeCodes.set(raw.closed!.code, (closeCodes.get(raw.closed!.code) ?? 0) + 1);
        }
      }),
      { numRuns: FRAME_CASES, endOnFailure: true },
    );
    raw.close();
    report.frames = FRAME_CASES;
    report.framesAnswered = outcomes.answered;
    report.framesClosed = outcomes.closed;
    console.log(`[hardening] frame fuzz close codes: ${JSON.stringify(Object.fromEntries(closeCodes))}`);
    const calmResult = await calm.stop();
    expect(calmResult.lost, JSON.stringify(calmResult)).toBe(0);
    expect(calmResult.failures).toBe(0);
    expect(calmResult.disconnects).toEqual([]);
    expect(calmResult.acked).toBeGreaterThan(5);
    expect(await healthy(gw)).toBe(true);
  });

  it(`answers ${PAYLOAD_CASES} random event names and payloads with { ok } or a coded error`, { timeout: 60_000 }, async () => {
    const calm = await startBystanders(gw);
    const s = await connected(client(gw.url, { token }));
    const codes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(eventName, fc.oneof(payload, fc.anything({ maxDepth: 3 })), async (name, p) => {
        if (["connect", "disconnect", "connect_error", "disconnecting", "newListener", "removeListener"].includes(name)) return; // reserved on the client side
        const answer = await ask<{ ok: boolean; error?: { code: string; message: string } }>(s, name, p, 10_000);
        assertNoLeak(JSON.stringify(answer), `answer to ${name}`);
        expect(typeof answer.ok).toBe("boolean");
        const code = answer.ok ? "ok" : answer.error!.code;
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (!answer.ok) expect(ERROR_CODES as readonly string[]).toContain(answer.error!.code);
      }),
      { numRuns: PAYLOAD_CASES, endOnFailure: true },
    );
    expect(s.connected).toBe(true);
    report.payloads = PAYLOAD_CASES;
    console.log(`[hardening] payload answers by code: ${JSON.stringify(Object.fromEntries(codes))}`);
    expect(codes.get("INTERNAL") ?? 0).toBe(0);
    const calmResult = await calm.stop();
    expect(calmResult.lost, JSON.stringify(calmResult)).toBe(0);
    expect(calmResult.disconnects).toEqual([]);
  });

  it("kept the process healthy: no uncaught errors, no handler panics, no error logs", async () => {
    expect(await healthy(gw)).toBe(true);
    const text = await scrape(gw.opsUrl);
    expect(metricValue(text, "socketgate_process_errors_total", { kind: "uncaughtException" })).toBe(0);
    expect(metricValue(text, "socketgate_process_errors_total", { kind: "unhandledRejection" })).toBe(0);
    for (const e of EVENTS) expect(metricValue(text, "socketgate_handler_errors_total", { event: e }), e).toBe(0);
    expect(badLogs(gw)).toEqual([]);
  });
});
