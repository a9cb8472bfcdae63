// A loopback TCP proxy that can "cut the network": freeze() keeps both TCP connections open but
// silently drops every byte, like a dead Wi-Fi link, so only heartbeats can notice. wedge(pattern)
// does that to the target->client direction of the connections whose client sent `pattern` (e.g. a
// Redis subscriber's SUBSCRIBE), leaving them open and every other or later connection untouched.
// retarget(port) sends later connections elsewhere, like an endpoint list catching up with readiness.
import { createServer, connect, type Server, type Socket } from "node:net";
import { freePort } from "./ports.js";

export interface TcpProxy {
  url: string;
  freeze(): void;
  /** Stops forwarding target->client bytes on the open connections whose client sent `pattern`; resolves how many. */
  wedge(pattern: string): number;
  /** New connections go to `port` from now on; open ones stay where they are. */
  retarget(port: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  let frozen = false;
  let target = targetPort;
  const sockets = new Set<Socket>();
  const connections: Array<{ sent: string; wedged: boolean }> = [];
  const server: Server = createServer((inbound) => {
    const outbound = connect(target, "127.0.0.1");
    const conn = { sent: "", wedged: false };
    connections.push(conn);
    inbound.on("close", () => connections.splice(connections.indexOf(conn), 1));
    // What the client said, kept bounded (the start of a connection is what identifies it).
    inbound.on("data", (d: Buffer) => {
      if (conn.sent.length < 65536) conn.sent += d.toString("latin1");
    });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    inbound.on("data", (d) => frozen || outbound.write(d));
    outbound.on("data", (d) => frozen || conn.wedged || inbound.write(d));
    inbound.on("close", () => outbound.destroy());
    outbound.on("close", () => inbound.destroy());
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${port}`,
    freeze: () => {
      frozen = true;
    },
    wedge: (pattern) => {
      let n = 0;
      for (const c of connections)
        if (!c.wedged && c.sent.toLowerCase().includes(pattern.toLowerCase())) {
          c.wedged = true;
          n++;
        }
      return n;
    },
    retarget: (port) => {
      target = port;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
