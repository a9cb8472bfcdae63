// Binary Socket.IO packets that declare 0 attachments (`450-…`, `460-…`), written as raw frames over
// WebSocket and long-polling: no stock client sends one, so the gateway refuses it as malformed at once
// (the sender's session is closed, as socket.io-parser's own decoder does), never holds it until some
// next frame arrives; bystanders are unaffected and a well-formed binary packet is still answered at once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { http, pollingOpen, pollUrl, RawSocket } from "../support/hardening.js";
import { handlerErrorsTotal, watchBystander } from "../support/hostile.js";
import { signToken } from "../support/tokens.js";

/** Generous for a shared 2-core machine: a held packet is never answered at all. */
const AT_ONCE_MS = 2000;
const BYSTANDER_BOUND_MS = 500;

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await startGatewayProcess({ env: { RATE_LIMIT_EVENTS_PER_S: "1000", RATE_LIMIT_BURST: "1000" } });
});
afterAll(async () => {
  await gw?.stop();
});

async function joinedRaw(room: string, user: string): Promise<RawSocket> {
  const raw = new RawSocket(gw.url);
  expect(await raw.handshake({ token: await signToken(user, { rooms: ["*"] }) })).toMatch(/^40/);
  raw.send(`421["room:join",{"room":"${room}"}]`);
  expect(await raw.next((f) => f.startsWith("431"))).toMatch(/"ok":true/);
  return raw;
}

describe("binary packets declaring 0 attachments", () => {
  const frames: Array<[string, string]> = [
    ["a message:send event (450-)", '450-7["message:send",{"room":"zero","body":"hi"}]'],
    ["an ack (460-)", "460-7[]"],
  ];
  for (const [what, frame] of frames) {
    it(`${what} over WebSocket: the sender's session is closed at once, bystanders unaffected`, async () => {
      const watch = await watchBystander(gw.url, "calm");
      const errorsBefore = await handlerErrorsTotal(gw);
      const raw = await joinedRaw("zero", "zero-ws");
      const sent = performance.now();
      raw.send(frame);
      // No further frame is sent: a decoder holding the packet would leave the session open and silent.
      const closed = await raw.waitClosed(AT_ONCE_MS);
      const afterMs = Math.round(performance.now() - sent);
      const stats = await watch.stop();
      console.log(`[hostile] 0-attachment ${what} over WebSocket: closed=${JSON.stringify(closed)} afterMs=${afterMs} bystander=${JSON.stringify(stats)}`);
      expect(closed, "the session was held open instead of refused").toBeDefined();
      expect(
        raw.frames.some((f) => f.startsWith("437")),
        "a malformed packet was answered as a message",
      ).toBe(false);
      expect(stats.failures).toBe(0);
      expect(stats.slowestMs).toBeLessThan(BYSTANDER_BOUND_MS);
      expect(await handlerErrorsTotal(gw)).toBe(errorsBefore);
    });
  }

  it("a message:send event (450-) over long-polling: the next poll answers the close packet at once", async () => {
    const { sid } = await pollingOpen(gw.url);
    expect(sid).toBeDefined();
    const url = pollUrl(gw.url, sid!);
    const headers = { "content-type": "text/plain;charset=UTF-8" };
    await http(url, { method: "POST", headers, body: `40${JSON.stringify({ token: await signToken("zero-poll", { rooms: ["*"] }) })}` });
    const connected = await http(url, { timeoutMs: 5000 });
    expect("error" in connected ? connected.error : connected.body).toMatch(/^40/);
    const sent = performance.now();
    const posted = await http(url, { method: "POST", headers, body: '450-7["message:send",{"room":"zero","body":"hi"}]' });
    expect("error" in posted ? posted.error : posted.status).toBe(200);
    const poll = await http(url, { timeoutMs: AT_ONCE_MS });
    const afterMs = Math.round(performance.now() - sent);
    console.log(`[hostile] 0-attachment event over polling: poll=${JSON.stringify(poll).slice(0, 120)} afterMs=${afterMs}`);
    if ("error" in poll) throw new Error(`the poll was not answered at once: ${poll.error}`);
    // The close packet, or (if the session was already gone) engine.io's unknown-session answer.
    const closedAtOnce = poll.status === 200 ? poll.body.split("\x1e").includes("1") : poll.status === 400;
    expect(closedAtOnce, poll.body).toBe(true);
  });

  it("a well-formed binary packet (1 attachment) is still answered at once", async () => {
    const raw = await joinedRaw("one", "one-ws");
    raw.send(`451-8${JSON.stringify(["message:send", { room: "one", body: { file: { _placeholder: true, num: 0 } } }])}`);
    raw.send(Buffer.alloc(100, 7));
    expect(await raw.next((f) => f.startsWith("438"), AT_ONCE_MS)).toMatch(/"ok":true/);
    expect(raw.isOpen).toBe(true);
    raw.close();
  });
});
