// helm test: /health answers OK and a Socket.IO handshake completes, through the Service.
// Node only (the gateway image has no shell tools). WebSocket when the runtime has it (Node 22+):
// one connection reaches one pod, however many pods the Service balances over.
const base = process.env.GATEWAY_URL;
const fail = (msg) => {
  console.error(`FAIL ${msg}`);
  process.exit(1);
};
const get = async (path, init = {}) => {
  const res = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
};

const health = await get("/health").catch((e) => fail(`GET ${base}/health: ${e.message}`));
if (health.status !== 200 || health.text.trim() !== "OK") fail(`GET /health answered ${health.status} ${health.text.slice(0, 100)}`);

// Engine.IO open ("0{sid...}"), then Socket.IO CONNECT to "/" ("40"). Without a token the gateway
// refuses it with a CONNECT_ERROR ("44{...}"): a Socket.IO answer all the same.
function viaWebSocket() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`);
    const timer = setTimeout(() => (ws.close(), reject(new Error("no Socket.IO answer within 10 s"))), 10_000);
    ws.onerror = (e) => (clearTimeout(timer), reject(new Error(`websocket error ${e.message ?? ""}`)));
    ws.onmessage = ({ data }) => {
      const text = String(data);
      if (text.startsWith("0{")) return ws.send("40");
      if (/^4[04]/.test(text)) {
        clearTimeout(timer);
        ws.close();
        resolve(text);
      }
    };
  });
}

async function viaPolling() {
  const open = await get("/socket.io/?EIO=4&transport=polling");
  if (!open.text.startsWith("0{")) throw new Error(`Engine.IO open answered ${open.status} ${open.text.slice(0, 100)}`);
  const { sid } = JSON.parse(open.text.slice(1));
  const q = `/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
  const sent = await get(q, { method: "POST", body: "40", headers: { "content-type": "text/plain;charset=UTF-8" } });
  if (sent.status !== 200) throw new Error(`CONNECT answered ${sent.status} ${sent.text.slice(0, 100)}`);
  return (await get(q)).text;
}

const answer = await (typeof WebSocket === "function" ? viaWebSocket() : viaPolling()).catch((e) => fail(e.message));
if (!/^4[04]/.test(answer)) fail(`unexpected Socket.IO answer ${answer.slice(0, 100)}`);
console.log(`OK /health and Socket.IO handshake: ${answer.startsWith("40") ? "connected" : `refused as expected without a token ${answer.slice(2, 120)}`}`);
