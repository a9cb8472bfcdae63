// Structured JSON logs (pino). Secrets never reach a log line: they are redacted by path.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: "socketgate", pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ["token", "auth.token", "apiKey", "authorization", "headers.authorization", "config.jwt", "config.apiKeys"], censor: "[redacted]" },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination as pino.DestinationStream | undefined,
  );
}
