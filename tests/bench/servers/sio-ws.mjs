// Socket.IO 4.8 the default way: Node's http server with the `ws` WebSocket server, no auth.
import http from "node:http";
import { Server } from "socket.io";
import { HOST, PORT, ready, sioHandlers } from "./common.mjs";

const server = http.createServer((req, res) => {
  if (req.url === "/health") return void res.end("OK");
  res.statusCode = 404;
  res.end();
});
const io = new Server(server, { transports: ["polling", "websocket"], pingInterval: 25_000, pingTimeout: 20_000 });
io.on("connection", (socket) => sioHandlers(io, socket));
server.listen(PORT, HOST, () => ready(server.address().port));
