// Several real gateway processes sharing one Redis: the smallest honest model of a deployment.
import { startGatewayProcess, type GatewayProcess, type StartOptions } from "./gateway-process.js";

export async function startGateways(n: number, redisEnv: Record<string, string>, opts: StartOptions = {}): Promise<GatewayProcess[]> {
  const out: GatewayProcess[] = [];
  // Sequential start: two cores, and each start waits for Redis.
  for (let i = 0; i < n; i++) out.push(await startGatewayProcess({ ...opts, env: { ...redisEnv, ...opts.env } }));
  return out;
}

export async function readyStatus(gw: GatewayProcess): Promise<number> {
  try {
    return (await fetch(`${gw.opsUrl}/readyz`)).status;
  } catch {
    return 0;
  }
}
