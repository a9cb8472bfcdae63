// Drain settings of the e2e scenarios: short enough for a bounded suite, shaped like production
// (DRAIN_DELAY_MS > balancer detection time, window >> reconnect delay, grace > reconnect gap).
export const CLIENTS = Number(process.env.E2E_CLIENTS ?? 300);
export const DRAIN = { delayMs: 500, windowMs: 3000, reconnectMaxMs: 1000 };
export const DRAIN_ENV: Record<string, string> = {
  DRAIN_DELAY_MS: String(DRAIN.delayMs),
  DRAIN_WINDOW_MS: String(DRAIN.windowMs),
  PRESENCE_GRACE_MS: "1500",
  MAX_CONNECTIONS: "20000",
  RATE_LIMIT_EVENTS_PER_S: "200",
  RATE_LIMIT_BURST: "400",
};
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
