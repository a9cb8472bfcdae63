// Bare Socket.IO 4.8 on uWebSockets.js (io.attachApp), no auth; with REDIS_URL, the classic
// @socket.io/redis-adapter (pub/sub over ioredis) as a one-node "cluster".
import uws from "uWebSockets.js";
import { Server } from "socket.io";
import { HOST, MAX_BACKPRESSURE, PORT, ready, sioHandlers } from "./common.mjs";

const app = uws.App();
const io = new Server({ transports: ["polling", "websocket"], pingInterval: 25_000, pingTimeout: 20_000 });
io.attachApp(app, { maxBackpressure: MAX_BACKPRESSURE });
if (process.env.REDIS_URL) {
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const { Redis } = await import("ioredis");
  const pub = new Redis(process.env.REDIS_URL);
  const sub = pub.duplicate();
  io.adapter(createAdapter(pub, sub));
}
io.on("connection", (socket) => sioHandlers(io, socket));
app.get("/health", (res) => void res.end("OK"));
app.listen(HOST, PORT, (token) => {
  if (!token) throw new Error(`cannot listen on ${PORT}`);
  ready(uws.us_socket_local_port(token));
});
