// The bench scenarios, run by the load generator against one stack. Each is bounded in count and
// time and returns plain numbers. A stack is reached through a "protocol" (Socket.IO or Pusher):
//   connect(endpoint, i, { onMessage(buf, s, e), onClose }) -> client
//   join(client, room) -> Promise;  send(client, kind, room, body, onAck?);  close(client)
import { cpuWindow, rssKiB } from "../lib/proc.mjs";
import { Histogram, round } from "../lib/stats.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowUs = () => Math.round(performance.now() * 1000);

/** Opens n clients with bounded concurrency and an overall deadline; failures are counted, not thrown. */
export async function connectMany(proto, endpoints, n, { concurrency = 100, deadlineMs = 60_000, handlers = () => ({}), offset = 0 } = {}) {
  const clients = new Array(n);
  let next = 0;
  let failed = 0;
  let firstError;
  const deadline = Date.now() + deadlineMs;
  const worker = async () => {
    while (next < n && Date.now() < deadline) {
      const i = next++;
      try {
        clients[i] = await proto.connect(endpoints[i % endpoints.length], offset + i, handlers(i));
      } catch (err) {
        failed++;
        firstError ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { clients: clients.filter(Boolean), failed, firstError: firstError ? String(firstError.message ?? firstError) : undefined };
}

export async function closeAll(proto, clients, settleMs = 300) {
  for (const c of clients) proto.close(c);
  await sleep(settleMs);
}

/** Socket.IO payload '["message",...' unless the protocol says otherwise. */
const isSioMessage = (buf, s) => buf[s + 2] === 0x6d; // 'm'

/** Set by sentAt: the load generator's sequence number of the message just parsed. */
let parsedSeq = -1;
/** Parses "~<tag><seq>~<sentUs>~" at `m` (the first "~" of the body); sets parsedSeq, returns sentUs or -1. */
function sentAt(buf, m, e) {
  let i = m + 2;
  let seq = 0;
  let c;
  while (i < e && (c = buf[i]) >= 0x30 && c <= 0x39) {
    seq = seq * 10 + (c - 0x30);
    i++;
  }
  parsedSeq = seq;
  if (buf[i] !== 0x7e) return -1;
  i++;
  let v = 0;
  while (i < e && (c = buf[i]) >= 0x30 && c <= 0x39) {
    v = v * 10 + (c - 0x30);
    i++;
  }
  return v;
}

/**
 * Room fan-out session: `subs` subscribers (spread over the endpoints) and one publisher (on
 * endpoints[0]) join one room once; then run() phases: the publisher sends at `rate` msg/s for
 * `durationMs` with `kind` "except" (sender excluded: socket.to(room)) or "all" (io.to(room)).
 * Latency = publisher send -> subscriber receive (same clock). Each phase tags its messages, so a
 * late message of an earlier phase never counts for a later one.
 */
export async function fanoutSession(proto, endpoints, { subs, slow = 0 }) {
  const room = `fan-${Math.random().toString(36).slice(2, 8)}`;
  const isMessage = proto.isMessage ?? isSioMessage;
  let phase = null;
  let disconnects = 0;
  let lastAnyRecv = 0;
  /** Per subscriber (connect index): closed by the server or the network. */
  const closedIn = new Uint8Array(subs);
  const { clients, failed, firstError } = await connectMany(proto, endpoints, subs, {
    offset: 1,
    handlers: (i) => ({
      onMessage: (buf, s, e) => {
        lastAnyRecv = performance.now();
        const ph = phase;
        if (ph === null || !isMessage(buf, s)) return; // presence and other events are not deliveries
        const m = buf.indexOf(0x7e, s);
        if (m < 0 || m >= e || buf[m + 1] !== ph.tag) return void (ph && ph.stale++);
        const t = sentAt(buf, m, e);
        const now = nowUs();
        ph.received++;
        ph.perSub[i]++;
        if (parsedSeq > ph.maxSeq[i]) ph.maxSeq[i] = parsedSeq;
        ph.lastRecvUs = now;
        if (t > 0) ph.hist.add(now - t);
      },
      onClose: () => {
        disconnects++;
        closedIn[i] = 1;
      },
    }),
  });
  // Joins with bounded concurrency and a few retries: a burst of 1,000 joins is its own test, not this one's.
  let nextJoin = 0;
  const joinErrors = [];
  const joiner = async () => {
    while (nextJoin < clients.length) {
      const c = clients[nextJoin++];
      for (let attempt = 0; ; attempt++) {
        try {
          await proto.join(c, room);
          break;
        } catch (err) {
          if (attempt >= 3) throw err;
          joinErrors.push(String(err.message ?? err).slice(0, 200));
          await sleep(100 * (attempt + 1));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 50 }, joiner));
  const pub = await proto.connect(endpoints[0], 0, { onMessage: () => {}, onClose: () => {} });
  await proto.join(pub, room);
  await sleep(200);
  let tagCode = 0x41; // 'A'

  async function run({ rate, durationMs, kind = "except", pids = [], drainMs = 3000, bodyPad = 0, slowHoldMs = 0, quietMs = 500 }) {
    // Start from a quiet room: an earlier phase's backlog must not steal this phase's window.
    const settleStart = performance.now();
    while (performance.now() - lastAnyRecv < 300 && performance.now() - settleStart < 15_000) await sleep(50);
    const settledMs = Math.round(performance.now() - settleStart);
    const ph = { tag: tagCode++, received: 0, stale: 0, lastRecvUs: 0, hist: new Histogram(), perSub: new Uint32Array(clients.length), maxSeq: new Int32Array(clients.length).fill(-1) };
    // Overload variant: the first `slow` subscribers stop reading while the publisher sends, and read
    // again afterwards (so what they did get, and the server closing them, becomes visible).
    for (let i = 0; i < slow && i < clients.length; i++) proto.pause?.(clients[i]);
    const tag = String.fromCharCode(ph.tag);
    const disc0 = disconnects;
    const pad = bodyPad > 0 ? "x".repeat(bodyPad) : "";
    let sent = 0, acked = 0, ackErrors = 0;
    const ackHist = new Histogram();
    phase = ph;
    const cpu = cpuWindow(pids);
    const start = performance.now();
    const startUs = nowUs();
    const total = Math.round((rate * durationMs) / 1000);
    await new Promise((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
        while (sent < due) {
          const seq = sent++;
          const t = nowUs();
          proto.send(pub, kind, room, `~${tag}${seq}~${t}~${pad}`, (ok) => {
            if (ok) acked++;
            else ackErrors++;
            ackHist.add(nowUs() - t);
          });
        }
        if (sent >= total || performance.now() - start > durationMs + 1000) return resolve();
        setTimeout(tick, 1);
      };
      tick();
    });
    const sendDoneMs = performance.now() - start;
    // Slow readers stay paused a while longer (so a server's slow-consumer grace period can run out), then read again.
    if (slow > 0) {
      await sleep(slowHoldMs);
      for (let i = 0; i < slow && i < clients.length; i++) proto.resume?.(clients[i]);
    }
    if (!proto.hasAcks) acked = sent;
    const expectedNow = () => sent * clients.length - lostToClosed();
    /** Messages a closed subscriber will never get: what a cut costs it (it resyncs from history on reconnect). */
    const lostToClosed = () => {
      let n = 0;
      for (let i = 0; i < clients.length; i++) if (closedIn[i]) n += sent - ph.perSub[i];
      return n;
    };
    // Drain: wait while messages still arrive (up to drainMs), so "lost" means dropped, not merely late.
    const drainDeadline = performance.now() + drainMs;
    while (
      performance.now() < drainDeadline &&
      (ph.received < expectedNow() || acked + ackErrors < sent) &&
      (performance.now() - lastAnyRecv < quietMs || performance.now() - sendDoneMs - start < quietMs + slowHoldMs)
    )
      await sleep(20);
    const usage = cpu();
    const windowS = Math.max(ph.lastRecvUs - startUs, durationMs * 1000) / 1e6;
    const expected = sent * clients.length;
    const result = {
      subscribers: clients.length,
      connectFailures: failed,
      connectError: firstError,
      kind,
      offeredMsgPerS: rate,
      sent,
      acked,
      ackErrors,
      expectedDeliveries: expected,
      delivered: ph.received,
      /** Not received by the end of the drain window: dropped, or still queued somewhere. */
      lost: Math.max(0, expected - ph.received),
      lossPct: expected ? round((100 * Math.max(0, expected - ph.received)) / expected, 3) : null,
      deliveredPerS: Math.round(ph.received / windowS),
      offeredDeliveriesPerS: Math.round(rate * clients.length),
      latencyMs: ph.hist.summary(),
      ackLatencyMs: ackHist.summary(),
      subscribersDisconnected: disconnects - disc0,
      sendWindowMs: Math.round(sendDoneMs),
      drainMs,
      settledBeforeMs: settledMs,
      joinRetries: joinErrors.length,
      firstJoinError: joinErrors[0],
      ...usage,
    };
    // Where every offered delivery went (offered = delivered + missing at closed subscribers + missing at open ones).
    // Holes = messages missing before the last one a subscriber received: invisible to a client that resumes
    // from its last seq (a silent drop), unlike a cut, which the client sees and the server counts.
    let closedSubs = 0, missingAtClosed = 0, missingAtOpen = 0, holes = 0, subsWithHoles = 0;
    for (let i = 0; i < clients.length; i++) {
      const missing = sent - ph.perSub[i];
      const h = Math.max(0, ph.maxSeq[i] + 1 - ph.perSub[i]);
      holes += h;
      if (h > 0) subsWithHoles++;
      if (closedIn[i]) (closedSubs++, (missingAtClosed += missing));
      else missingAtOpen += missing;
    }
    result.accounting = { offered: expected, delivered: ph.received, closedSubscribers: closedSubs, missingAtClosedSubscribers: missingAtClosed, missingAtOpenSubscribers: missingAtOpen, holes, subscribersWithHoles: subsWithHoles };
    if (slow > 0) {
      let fastGot = 0;
      for (let i = slow; i < clients.length; i++) fastGot += ph.perSub[i];
      result.slowConsumers = slow;
      result.deliveredToFastSubscribers = fastGot;
      result.expectedFastSubscribers = sent * (clients.length - slow);
    }
    phase = null;
    return result;
  }
  return { run, close: () => closeAll(proto, [...clients, pub]), size: clients.length };
}

/** One fan-out phase on a fresh session (tests and one-off runs). */
export async function fanout(proto, endpoints, opts) {
  const session = await fanoutSession(proto, endpoints, opts);
  try {
    return await session.run(opts);
  } finally {
    await session.close();
  }
}

/** Echo with ack: `clients` clients each in a closed loop of message:send to their own room. */
export async function echo(proto, endpoints, { clients: n = 100, durationMs, depth = 1, pids = [] }) {
  const { clients, failed, firstError } = await connectMany(proto, endpoints, n, { offset: 100_000 });
  await Promise.all(clients.map((c, i) => proto.join(c, `echo-${i}`)));
  const hist = new Histogram();
  let ops = 0;
  let errors = 0;
  let stop = false;
  const cpu = cpuWindow(pids);
  const start = performance.now();
  const loops = [];
  for (let i = 0; i < clients.length; i++) {
    for (let d = 0; d < depth; d++) {
      loops.push(
        new Promise((resolve) => {
          const one = () => {
            if (stop) return resolve();
            const t = nowUs();
            proto.send(clients[i], "except", `echo-${i}`, "ping", (ok) => {
              hist.add(nowUs() - t);
              if (ok) ops++;
              else errors++;
              if (!ok && !clients[i].connected) return resolve();
              one();
            });
          };
          one();
        }),
      );
    }
  }
  await sleep(durationMs);
  stop = true;
  const elapsed = (performance.now() - start) / 1000;
  const usage = cpu();
  await Promise.race([Promise.all(loops), sleep(2000)]);
  await closeAll(proto, clients);
  return { clients: clients.length, connectFailures: failed, connectError: firstError, opsPerS: Math.round(ops / elapsed), errors, latencyMs: hist.summary(), ...usage };
}

/** Connection rate: `count` handshakes (with auth when the stack has it) at `concurrency` in flight. */
export async function connRate(proto, endpoints, { count, concurrency = 50, pids = [] }) {
  const cpu = cpuWindow(pids);
  const start = performance.now();
  const { clients, failed, firstError } = await connectMany(proto, endpoints, count, { concurrency, offset: 200_000, deadlineMs: 60_000 });
  const elapsed = (performance.now() - start) / 1000;
  const usage = cpu();
  await closeAll(proto, clients, 500);
  return { attempted: count, connected: clients.length, failed, firstError, connPerS: Math.round(clients.length / elapsed), ...usage };
}

/** Idle memory: server RSS before and after holding `levels` idle authenticated connections. */
export async function memory(proto, endpoints, { levels, pid, settleMs = 1500 }) {
  await sleep(settleMs);
  const base = rssKiB(pid);
  const points = [{ connections: 0, rssKiB: base }];
  let held = [];
  let failed = 0;
  let firstError;
  for (const level of levels) {
    const need = level - held.length;
    if (need > 0) {
      const r = await connectMany(proto, endpoints, need, { concurrency: 100, offset: 300_000 + held.length, deadlineMs: 60_000 });
      held = held.concat(r.clients);
      failed += r.failed;
      firstError ??= r.firstError;
    }
    await sleep(settleMs);
    points.push({ connections: held.length, rssKiB: rssKiB(pid) });
  }
  await closeAll(proto, held, 800);
  const perConn = points.slice(1).map((p) => ({ connections: p.connections, kibPerConn: round((p.rssKiB - base) / Math.max(1, p.connections)) }));
  const first = points[1];
  const last = points[points.length - 1];
  const slope = last.connections > first.connections ? round((last.rssKiB - first.rssKiB) / (last.connections - first.connections)) : null;
  return { baseRssKiB: base, points, perConn, kibPerConnSlope: slope, slopeRange: `${first.connections}->${last.connections}`, failed, firstError };
}
