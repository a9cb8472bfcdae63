// Real socket.io-client connections for tests, with bounded waits and guaranteed cleanup.
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";

export type Client = Socket;

const open: Client[] = [];

export function client(url: string, auth: Record<string, unknown>, opts: Partial<ManagerOptions & SocketOptions> = {}): Client {
  const s = io(url, { auth, transports: ["websocket"], reconnection: false, forceNew: true, timeout: 5000, ...opts });
  open.push(s);
  return s;
}

export function connected(s: Client, timeoutMs = 5000): Promise<Client> {
  return new Promise((resolve, reject) => {
    if (s.connected) return resolve(s);
    const timer = setTimeout(() => reject(new Error("connect timed out")), timeoutMs);
    s.once("connect", () => (clearTimeout(timer), resolve(s)));
    s.once("connect_error", (e) => (clearTimeout(timer), reject(e)));
  });
}

/** Resolves the connect_error's data (the refusal code) or rejects if the socket connects. */
export function refused(s: Client, timeoutMs = 5000): Promise<{ code: string; message: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("neither connected nor refused")), timeoutMs);
    s.once("connect", () => (clearTimeout(timer), reject(new Error("connected but a refusal was expected"))));
    s.once("connect_error", (e: Error & { data?: { code: string; message: string } }) => {
      clearTimeout(timer);
      resolve(e.data ?? { code: "NONE", message: e.message });
    });
  });
}

export function nextEvent<T = unknown>(s: Client, event: string, timeoutMs = 5000, pred: (v: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (s.off(event, on), reject(new Error(`no ${event} within ${timeoutMs} ms`))), timeoutMs);
    const on = (v: T) => {
      if (!pred(v)) return;
      clearTimeout(timer);
      s.off(event, on);
      resolve(v);
    };
    s.on(event, on);
  });
}

export async function ask<T = Record<string, unknown>>(s: Client, event: string, payload?: unknown, timeoutMs = 5000): Promise<T> {
  const args = payload === undefined ? [] : [payload];
  return (await s.timeout(timeoutMs).emitWithAck(event, ...args)) as T;
}

export function closeAll(): void {
  for (const s of open.splice(0)) s.close();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** After the events a test waited for arrived: how long it keeps listening for an extra one that must not come. */
export const SETTLE_MS = 300;

/**
 * Waits until `condition()` holds (failing after `deadlineMs`: only a broken gateway or a starved machine
 * gets near it), then SETTLE_MS more, measured from that moment, so an exact assertion made afterwards also
 * sees any extra event that arrived late.
 */
export async function settled(what: string, condition: () => boolean, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await sleep(20);
  }
  await sleep(SETTLE_MS);
}
