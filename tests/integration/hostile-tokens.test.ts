// "Authorisation fails open", replayed: a token without `rooms` tried every room, and a token of a
// shared identity provider minted for another application (other aud / iss) was accepted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, refused } from "../support/clients.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { signToken } from "../support/tokens.js";

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await startGatewayProcess({ env: { JWT_AUDIENCE: "socketgate", JWT_ISSUER: "https://idp.example" } });
});
afterAll(async () => {
  closeAll();
  await gw?.stop();
});

const ours = { aud: "socketgate", iss: "https://idp.example" };

describe("authorisation fails closed", () => {
  it("a token without a rooms claim joins no room (FORBIDDEN), one with rooms joins only those", async () => {
    const bare = await connected(client(gw.url, { token: await signToken("no-rooms", { ...ours, rooms: undefined }) }));
    for (const room of ["conv:1", "team:7:general", "admin"])
      expect(await ask(bare, "room:join", { room })).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    const scoped = await connected(client(gw.url, { token: await signToken("scoped", { ...ours, rooms: ["team:7:*"] }) }));
    expect(await ask(scoped, "room:join", { room: "team:7:general" })).toMatchObject({ ok: true });
    expect(await ask(scoped, "room:join", { room: "team:8:general" })).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
  });

  it("refuses tokens of the same identity provider minted for another audience or by another issuer", async () => {
    expect((await refused(client(gw.url, { token: await signToken("other-app", { aud: "billing", iss: ours.iss }) }))).code).toBe("AUTH_INVALID");
    expect((await refused(client(gw.url, { token: await signToken("other-idp", { aud: ours.aud, iss: "https://other.example" }) }))).code).toBe("AUTH_INVALID");
    await connected(client(gw.url, { token: await signToken("ours", ours) }));
  });
});
