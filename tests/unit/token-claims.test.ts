// Tokens over time, the claim rules: aud / iss when configured, clock tolerance, and `rooms` required
// (a token without it joins nothing unless ROOMS_CLAIM_DEFAULT says otherwise; dev tokens carry "*").
import { describe, expect, it } from "vitest";
import { isRoomAllowed } from "../../src/auth/room-access.js";
import { createTokenVerifier } from "../../src/auth/token-verifier.js";
import { GatewayError } from "../../src/errors.js";
import { signToken, TEST_SECRET } from "../support/tokens.js";

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "OK",
    (e: unknown) => (e instanceof GatewayError ? e.code : String(e)),
  );

describe("token claims", () => {
  it("checks aud and iss when configured, and nothing else's", async () => {
    const v = createTokenVerifier({ secret: TEST_SECRET, audience: "socketgate", issuer: "https://idp.example" });
    expect(await codeOf(v.verify(await signToken("a", { aud: "socketgate", iss: "https://idp.example" })))).toBe("OK");
    expect(await codeOf(v.verify(await signToken("a", { aud: "another-app", iss: "https://idp.example" })))).toBe("AUTH_INVALID");
    expect(await codeOf(v.verify(await signToken("a", { aud: "socketgate", iss: "https://evil.example" })))).toBe("AUTH_INVALID");
    expect(await codeOf(v.verify(await signToken("a", {})))).toBe("AUTH_INVALID");
    const open = createTokenVerifier({ secret: TEST_SECRET });
    expect(await codeOf(open.verify(await signToken("a", { aud: "anything" })))).toBe("OK");
  });

  it("tolerates JWT_CLOCK_TOLERANCE_S of skew on exp, not more", async () => {
    const now = Math.floor(Date.now() / 1000);
    const v = createTokenVerifier({ secret: TEST_SECRET, clockToleranceS: 5 });
    expect(await codeOf(v.verify(await signToken("a", {}, { expiresIn: now - 2 })))).toBe("OK");
    expect(await codeOf(v.verify(await signToken("a", {}, { expiresIn: now - 30 })))).toBe("AUTH_EXPIRED");
  });

  it("gives a token without `rooms` no room, unless ROOMS_CLAIM_DEFAULT says otherwise; `*` grants all", async () => {
    const strict = await createTokenVerifier({ secret: TEST_SECRET }).verify(await signToken("a", { rooms: undefined }));
    expect(strict.rooms).toEqual([]);
    expect(isRoomAllowed(strict, "conv:1")).toBe(false);
    const lenient = await createTokenVerifier({ secret: TEST_SECRET, roomsDefault: ["public:*"] }).verify(await signToken("a", { rooms: undefined }));
    expect(isRoomAllowed(lenient, "public:lobby")).toBe(true);
    expect(isRoomAllowed(lenient, "conv:1")).toBe(false);
    const all = await createTokenVerifier({ secret: TEST_SECRET }).verify(await signToken("a", { rooms: ["*"] }));
    expect(isRoomAllowed(all, "anything:at:all")).toBe(true);
  });

  it("issues dev-mode tokens carrying rooms ['*']", async () => {
    const dev = createTokenVerifier({});
    const id = await dev.verify(await dev.issueDevToken!("dev-user"));
    expect(id.rooms).toEqual(["*"]);
  });
});
