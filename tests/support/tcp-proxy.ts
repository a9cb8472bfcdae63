// A loopback TCP proxy that can "cut the network": freeze() keeps both TCP connections open but
// silently drops every byte, like a dead Wi-Fi link, so only heartbeats can notice.
import { createServer, connect, type Server, type Socket } from "node:net";
import { freePort } from "./ports.js";

export interface TcpProxy {
  url: string;
  freeze(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  let frozen = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connect(targetPort, "127.0.0.1");
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    inbound.on("data", (d) => frozen || outbound.write(d));
    outbound.on("data", (d) => frozen || inbound.write(d));
    inbound.on("close", () => outbound.destroy());
    outbound.on("close", () => inbound.destroy());
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${port}`,
    freeze: () => {
      frozen = true;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
