// What every baseline server does, so the load generator drives each stack the same way:
// room:join {room} -> ack {ok,room}; message:send {room,body} -> "message" to the room except the
// sender, ack {ok,id,ts,seq}; message:all -> the same including the sender (io.to(room)).
export const PORT = Number(process.env.PORT ?? 0);
export const HOST = "127.0.0.1";
/** The gateway's own limit (SLOW_CONSUMER_BUFFER_BYTES 1 MiB x 4), so baselines buffer alike. */
export const MAX_BACKPRESSURE = Number(process.env.MAX_BACKPRESSURE ?? 4 * 1024 * 1024);

let seq = 0;
export function makeMessage(room, body, from) {
  seq += 1;
  return { id: `m${seq}`, room, from, body, ts: Date.now(), seq };
}

export function ready(port) {
  process.stdout.write(`READY ${port}\n`);
}

/** Socket.IO handlers shared by the Socket.IO baselines. */
export function sioHandlers(io, socket) {
  socket.on("room:join", (data, ack) => {
    socket.join(String(data?.room));
    if (typeof ack === "function") ack({ ok: true, room: data.room });
  });
  socket.on("message:send", (data, ack) => {
    const msg = makeMessage(data.room, data.body, socket.id);
    socket.to(data.room).emit("message", msg);
    if (typeof ack === "function") ack({ ok: true, id: msg.id, ts: msg.ts, seq: msg.seq });
  });
  socket.on("message:all", (data, ack) => {
    const msg = makeMessage(data.room, data.body, socket.id);
    io.to(data.room).emit("message", msg);
    if (typeof ack === "function") ack({ ok: true, id: msg.id, ts: msg.ts, seq: msg.seq });
  });
}

process.on("SIGTERM", () => process.exit(0));
