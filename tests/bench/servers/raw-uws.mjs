// The ceiling: uWebSockets.js native pub/sub with no Socket.IO at all. It speaks just enough
// Engine.IO/Socket.IO text framing for the same load generator ("0", "40", "42", "43", "2"/"3")
// and parses each event with JSON.parse like a real server would.
import uws from "uWebSockets.js";
import { HOST, MAX_BACKPRESSURE, PORT, makeMessage, ready } from "./common.mjs";

const app = uws.App();
const EXCEPT_BY_UNSUBSCRIBE = process.env.RAW_EXCEPT === "unsubscribe";
const DEFER = process.env.RAW_DEFER === "1";
let nextId = 0;
const OPEN = (sid) => `0{"sid":"${sid}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`;

app.get("/health", (res) => void res.end("OK"));
app.ws("/socket.io/", {
  maxBackpressure: MAX_BACKPRESSURE,
  idleTimeout: 0,
  maxPayloadLength: 1 << 20,
  upgrade: (res, req, context) => {
    res.upgrade(
      { sid: `s${++nextId}` },
      req.getHeader("sec-websocket-key"),
      req.getHeader("sec-websocket-protocol"),
      req.getHeader("sec-websocket-extensions"),
      context,
    );
  },
  open: (ws) => void ws.send(OPEN(ws.getUserData().sid)),
  message: (ws, ab) => {
    const text = Buffer.from(ab).toString("utf8");
    if (text.startsWith("40")) return void ws.send(`40{"sid":"${ws.getUserData().sid}"}`);
    if (!text.startsWith("42")) return;
    let i = 2;
    while (text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    const ackId = text.slice(2, i);
    const [event, data] = JSON.parse(text.slice(i));
    const ack = (answer) => ackId && ws.send(`43${ackId}${JSON.stringify([answer])}`);
    if (event === "room:join") {
      ws.subscribe(String(data.room));
      return ack({ ok: true, room: data.room });
    }
    if (event === "message:send" || event === "message:all") {
      const msg = makeMessage(data.room, data.body, ws.getUserData().sid);
      const frame = `42${JSON.stringify(["message", msg])}`;
      const topic = String(data.room);
      if (event === "message:all") app.publish(topic, frame);
      else if (EXCEPT_BY_UNSUBSCRIBE) {
        // Alternative sender exclusion: step out of the topic, publish app-wide, step back in.
        ws.unsubscribe(topic);
        app.publish(topic, frame);
        ws.subscribe(topic);
      } else if (DEFER) {
        // Experiment: publish from outside the message callback (where the sender is corked).
        setImmediate(() => {
          try {
            ws.publish(topic, frame);
          } catch {}
        });
      } else ws.publish(topic, frame); // uWS excludes the publisher
      return ack({ ok: true, id: msg.id, ts: msg.ts, seq: msg.seq });
    }
    ack({ ok: false, error: { code: "UNKNOWN_EVENT" } });
  },
});
app.listen(HOST, PORT, (token) => {
  if (!token) throw new Error(`cannot listen on ${PORT}`);
  ready(uws.us_socket_local_port(token));
});
