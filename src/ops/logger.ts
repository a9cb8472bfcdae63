// Structured JSON logs (pino), with the active trace's ids. Secrets never reach a log line: they are redacted by path.
import { pino, type Logger } from "pino";
import { traceLogFields } from "./tracing.js";

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: "socketgate", pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ["token", "auth.token", "apiKey", "authorization", "headers.authorization", "config.jwt", "config.apiKeys"], censor: "[redacted]" },
      formatters: { level: (label) => ({ level: label }) },
      // trace_id / span_id of the active span, so a log line leads to its trace (nothing added when tracing is off).
      mixin: traceLogFields,
    },
    destination as pino.DestinationStream | undefined,
  );
}
