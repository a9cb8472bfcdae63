// The mixed load the cluster drain scenarios share: rooms of about 11 users, about 1 user in 12 with
// a second device, steady room and direct traffic, clients reconnecting quickly on their own.
import { Load, type LoadOptions } from "./load.js";
import { CLIENTS, DRAIN } from "./settings.js";

export function standardLoad(url: string, runId: string, extra: Partial<LoadOptions> = {}): Load {
  const rooms = Math.round(CLIENTS / 12);
  const secondDevices = Math.round(CLIENTS / 12);
  const users = CLIENTS - rooms - secondDevices;
  return new Load({
    url,
    users,
    roomSize: Math.ceil(users / rooms),
    secondDevices,
    runId,
    roomSendEveryMs: 1500,
    directSendEveryMs: 3000,
    reconnectionDelayMs: 200,
    reconnectionDelayMaxMs: DRAIN.reconnectMaxMs,
    ...extra,
  });
}
