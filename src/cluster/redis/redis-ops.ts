// How every Redis call of the cluster services runs: a deadline, Lua by SHA, and errors mapped to UNAVAILABLE.
import { createHash } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import { GatewayError } from "../../errors.js";
import { storeDeadline } from "./store-deadline.js";

export type RedisClient = Redis | Cluster;

/** A Lua script sent by SHA (EVALSHA) with a fallback to EVAL after a restart emptied the script cache. */
export class LuaScript {
  readonly sha: string;
  constructor(
    readonly name: string,
    readonly lua: string,
  ) {
    this.sha = createHash("sha1").update(lua).digest("hex");
  }
}

/**
 * Reply errors that mean "the store cannot serve right now" rather than "this request is wrong":
 * a failover, a cluster reconfiguration or a server still loading its data.
 */
const TRANSIENT_REPLY = /^(CLUSTERDOWN|LOADING|READONLY|MASTERDOWN|TRYAGAIN|BUSY|NOREPLICAS|MOVED|ASK)\b/;

const noop = (): void => {};

export interface RedisOpsOptions {
  /** Upper bound for any one operation, connection problems included. */
  opTimeoutMs: number;
}

/** Wraps a client so that no operation hangs and every connection failure surfaces as UNAVAILABLE. */
export class RedisOps {
  private closed = false;

  constructor(
    readonly client: RedisClient,
    private readonly options: RedisOpsOptions,
  ) {}

  /**
   * Runs one operation under its own deadline, counted from when this operation was sent and only over time
   * this process could have read the reply (see store-deadline.ts). The operation keeps running in ioredis
   * after a timeout; its late rejection is swallowed here so it can never become an unhandled rejection.
   */
  async run<T>(what: string, op: (client: RedisClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new GatewayError("UNAVAILABLE", "the shared store is shutting down: retry on another connection");
    const work = (async () => op(this.client))();
    try {
      return await storeDeadline(
        work,
        this.options.opTimeoutMs,
        () => new GatewayError("UNAVAILABLE", `the shared store did not answer within ${this.options.opTimeoutMs} ms: retry later`),
      );
    } catch (err) {
      throw toGatewayError(err, what);
    } finally {
      work.catch(noop);
    }
  }

  /** EVALSHA, then EVAL once when the server does not know the script (fresh start, restart, failover). */
  async eval(script: LuaScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    return this.run(script.name, async (client) => {
      try {
        return await client.evalsha(script.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (err instanceof Error && err.message.startsWith("NOSCRIPT")) return client.eval(script.lua, keys.length, ...keys, ...args);
        throw err;
      }
    });
  }

  /** Later calls reject at once; the clients themselves are closed by the service factory. */
  close(): void {
    this.closed = true;
  }
}

/**
 * Connection-level failures (closed socket, offline queue disabled, command timeout, cluster without a
 * reachable node) and transient server states become UNAVAILABLE: the client may retry. Any other reply
 * error is a bug on our side and is passed on unchanged, so it is answered as INTERNAL and counted.
 */
export function toGatewayError(err: unknown, what: string): unknown {
  if (err instanceof GatewayError) return err;
  if (err instanceof Error && err.name === "ReplyError" && !TRANSIENT_REPLY.test(err.message)) return err;
  const detail = err instanceof Error && err.name === "ReplyError" ? "is failing over or reconfiguring" : "is unreachable";
  // Clients see the message verbatim; the operation and the driver error stay in `cause`, for logs only.
  const unavailable = new GatewayError("UNAVAILABLE", `the shared store ${detail}: retry later`);
  unavailable.cause = { op: what, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  return unavailable;
}

/** Narrowing helpers for script replies, which ioredis types as unknown. */
export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function asString(v: unknown): string {
  if (typeof v === "string") return v;
  if (Buffer.isBuffer(v)) return v.toString("utf8");
  if (typeof v === "number") return String(v);
  return "";
}

export function asNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" || Buffer.isBuffer(v)) return Number(v.toString());
  return 0;
}
