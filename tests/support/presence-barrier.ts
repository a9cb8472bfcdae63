// A presence barrier: proves that every grace timer a gateway started earlier has fired and been delivered.
import { ask, client, connected, nextEvent, type Client } from "./clients.js";
import { signToken } from "./tokens.js";
import { waitFor } from "./redis-harness.js";

let markers = 0;

/**
 * A marker user joins `room` on the gateway at `url` and leaves; resolves once every watcher saw the
 * marker go offline. One gateway fires its grace timers in the order it started them (same duration) and
 * emits their events in that order, so any `offline` it scheduled for a socket that left before the marker
 * has reached the watchers by then. An assertion that some user did NOT go offline, made after the barrier,
 * therefore cannot pass merely because the machine was slow (a fixed sleep could end before the timer).
 * Callers make sure the gateway saw the earlier leave first (e.g. presence:get shows the device gone).
 */
export async function presenceBarrier(url: string, room: string, watchers: Client[], deadlineMs = 15_000): Promise<void> {
  const marker = `barrier-${process.pid}-${++markers}`;
  const offline = watchers.map((w) =>
    nextEvent<{ userId: string; status: string }>(w, "presence", deadlineMs, (e) => e.userId === marker && e.status === "offline"),
  );
  const s = await connected(client(url, { token: await signToken(marker) }));
  await ask(s, "room:join", { room });
  s.close();
  await Promise.all(offline);
}

/** Waits until presence:get (cluster-wide) lists `userId` in `room` with exactly `devices` devices. */
export async function devicesOf(s: Client, room: string, userId: string, devices: number): Promise<void> {
  await waitFor(`${userId} with ${devices} device(s) in ${room}`, async () => {
    const r = await ask<{ users?: Array<{ userId: string; devices: number }> }>(s, "presence:get", { room });
    return r.users?.some((u) => u.userId === userId && u.devices === devices) === true;
  });
}
