// Bench-only preload (`node --import`): installs src/transport/native-broadcast (from dist) right
// after io.attachApp, exactly where the one-line wiring in gateway.ts puts it, so the bench can
// measure the fast path before the composition root is changed. Not used once gateway.ts wires it.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Server } = require("socket.io");
const { installNativeBroadcast } = await import(new URL("../../../dist/transport/native-broadcast.js", import.meta.url).href);
const attachApp = Server.prototype.attachApp;
Server.prototype.attachApp = function (app, opts) {
  const result = attachApp.call(this, app, opts);
  installNativeBroadcast(app);
  return result;
};
