// An in-process OTLP/HTTP (JSON) trace collector for tests: gateways export to it, tests wait for spans.
import { createServer, type Server } from "node:http";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  status: { code?: number; message?: string };
  attributes: Record<string, unknown>;
  /** process.pid of the gateway that exported it (resource attribute): which pod. */
  pid: number;
}

/** OTLP JSON ids are hex in current exporters; older ones used base64. */
const hexId = (v: unknown): string => {
  if (typeof v !== "string" || v === "") return "";
  return /^[0-9a-f]+$/i.test(v) && (v.length === 32 || v.length === 16) ? v.toLowerCase() : Buffer.from(v, "base64").toString("hex");
};
type KV = { key: string; value: Record<string, unknown> };
const attrs = (list: KV[] | undefined): Record<string, unknown> =>
  Object.fromEntries(
    (list ?? []).map(({ key, value }) => [
      key,
      value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.boolValue ?? value.doubleValue)),
    ]),
  );

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            resourceSpans?: Array<{ resource?: { attributes?: KV[] }; scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }> }>;
          };
          for (const rs of body.resourceSpans ?? []) {
            const pid = Number(attrs(rs.resource?.attributes)["process.pid"]);
            for (const ss of rs.scopeSpans ?? [])
              for (const s of ss.spans ?? [])
                this.spans.push({
                  traceId: hexId(s.traceId),
                  spanId: hexId(s.spanId),
                  parentSpanId: hexId(s.parentSpanId),
                  name: String(s.name),
                  kind: Number(s.kind),
                  status: (s.status as ReceivedSpan["status"]) ?? {},
                  attributes: attrs(s.attributes as KV[]),
                  pid,
                });
          }
          res.writeHead(200, { "content-type": "application/json" }).end("{}");
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    const addr = this.server.address();
    this.port = typeof addr === "object" && addr ? addr.port : 0;
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${this.port}/v1/traces`,
      OTEL_BSP_SCHEDULE_DELAY: "100",
      ...extra,
    };
  }

  async waitFor(pred: (s: ReceivedSpan) => boolean, what: string, timeoutMs = 10_000): Promise<ReceivedSpan> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.spans.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no span ${what} within ${timeoutMs} ms; got: ${this.spans.map((s) => s.name).join(", ")}`);
      await sleep(50);
    }
  }

  close(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
