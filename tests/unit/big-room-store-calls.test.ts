// The two pieces that keep a join storm's store calls answered: stall-aware deadlines and coalesced page reads.
import net from "node:net";
import { describe, expect, it } from "vitest";
import { storeDeadline } from "../../src/cluster/redis/store-deadline.js";
import type { PresencePage } from "../../src/cluster/types.js";
import { PageReads } from "../../src/presence/page-reads.js";

/** Blocks the event loop, as a starved CPU or a long synchronous burst does. */
function busy(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

/** A reply that arrives over a real socket: resolves when the peer's bytes are read by the event loop. */
async function socketReply(): Promise<{ reply: Promise<string>; send: () => void; close: () => void }> {
  const server = net.createServer((c) => c.on("data", () => c.write("pong")));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as net.AddressInfo;
  const sock = net.connect(port, "127.0.0.1");
  await new Promise<void>((r) => sock.once("connect", () => r()));
  const reply = new Promise<string>((r) => sock.once("data", (d) => r(d.toString())));
  return { reply, send: () => sock.write("ping"), close: () => (sock.destroy(), server.close()) };
}

describe("storeDeadline", () => {
  it("a reply that arrived while the loop was stalled past the deadline wins over the deadline", async () => {
    const io = await socketReply();
    try {
      const answered = storeDeadline(io.reply, 100, () => new Error("deadline"));
      io.send();
      // The echo arrives within a millisecond, but the loop cannot read it for 400 ms: a plain timer would fire first.
      busy(400);
      await expect(answered).resolves.toBe("pong");
    } finally {
      io.close();
    }
  });

  it("an operation that never answers fails after the deadline on a responsive loop", async () => {
    const started = Date.now();
    await expect(storeDeadline(new Promise(() => undefined), 150, () => new Error("deadline"))).rejects.toThrow("deadline");
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("stalled time does not count: after a stall the operation still gets its full deadline", async () => {
    let resolveLate!: (v: string) => void;
    const late = new Promise<string>((r) => (resolveLate = r));
    const answered = storeDeadline(late, 200, () => new Error("deadline"));
    busy(500);
    // 100 ms of responsive time after the stall: within the 200 ms the operation is owed.
    setTimeout(() => resolveLate("late"), 100);
    await expect(answered).resolves.toBe("late");
  });
});

describe("PageReads", () => {
  const page = (n: number): PresencePage => ({ occupancy: { users: n, devices: n }, mode: "full", users: [] });

  it("callers arriving during a read share the next one; every caller's read was sent after it asked", async () => {
    const sent: Array<{ at: number; resolve: (p: PresencePage) => void }> = [];
    let clock = 0;
    const reads = new PageReads(() => new Promise((resolve) => sent.push({ at: clock, resolve })));
    const asked: number[] = [];
    const answers: Array<Promise<PresencePage>> = [];
    const ask = () => {
      asked.push(++clock);
      answers.push(reads.page("r", 10));
    };
    ask();
    for (let i = 0; i < 50; i++) ask();
    expect(sent).toHaveLength(1);
    sent[0]!.resolve(page(1));
    await answers[0];
    await new Promise((r) => setImmediate(r));
    // The 50 late callers: one read between them, sent after the last of them asked.
    expect(sent).toHaveLength(2);
    expect(sent[1]!.at).toBeGreaterThanOrEqual(asked[50]!);
    sent[1]!.resolve(page(51));
    const all = await Promise.all(answers);
    expect(all[0]!.occupancy.users).toBe(1);
    expect(all.slice(1).every((p) => p.occupancy.users === 51)).toBe(true);
    // Different pages are different reads.
    void reads.page("r", 10, "someone");
    void reads.page("other", 10);
    expect(sent).toHaveLength(4);
  });

  it("a failed read fails its callers only; the next batch is sent anyway", async () => {
    const sent: Array<{ resolve: (p: PresencePage) => void; reject: (e: Error) => void }> = [];
    const reads = new PageReads(() => new Promise((resolve, reject) => sent.push({ resolve, reject })));
    const first = reads.page("r", 10);
    const second = reads.page("r", 10);
    sent[0]!.reject(new Error("UNAVAILABLE"));
    await expect(first).rejects.toThrow("UNAVAILABLE");
    await new Promise((r) => setImmediate(r));
    sent[1]!.resolve(page(2));
    await expect(second).resolves.toMatchObject({ occupancy: { users: 2 } });
  });
});
