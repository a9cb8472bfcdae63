import { generateKeyPairSync, createHmac } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, SignJWT, importPKCS8 } from "jose";
import { describe, expect, it } from "vitest";
import { createTokenVerifier } from "../../src/auth/token-verifier.js";
import { GatewayError } from "../../src/errors.js";
import { signToken, TEST_SECRET } from "../support/tokens.js";

const dir = mkdtempSync(join(tmpdir(), "sg-keys-"));
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const rsaPub = join(dir, "rsa.pem");
writeFileSync(rsaPub, rsa.publicKey.export({ type: "spki", format: "pem" }));
const ecPub = join(dir, "ec.pem");
writeFileSync(ecPub, ec.publicKey.export({ type: "spki", format: "pem" }));

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
const exp = () => Math.floor(Date.now() / 1000) + 3600;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return (err as GatewayError).code;
  }
  return "ACCEPTED";
}

describe("token verification", () => {
  const hs = createTokenVerifier({ secret: TEST_SECRET });

  it("accepts a valid HS256 token and reads sub and rooms", async () => {
    const id = await hs.verify(await signToken("alice", { rooms: ["conv:42", "team:7:*"] }));
    expect(id).toMatchObject({ userId: "alice", rooms: ["conv:42", "team:7:*"] });
  });

  it("answers AUTH_REQUIRED, AUTH_INVALID, AUTH_EXPIRED", async () => {
    expect(await codeOf(hs.verify(undefined))).toBe("AUTH_REQUIRED");
    expect(await codeOf(hs.verify(""))).toBe("AUTH_REQUIRED");
    expect(await codeOf(hs.verify(42))).toBe("AUTH_INVALID");
    expect(await codeOf(hs.verify({ token: "x" }))).toBe("AUTH_INVALID");
    expect(await codeOf(hs.verify("not.a.jwt"))).toBe("AUTH_INVALID");
    expect(await codeOf(hs.verify("a".repeat(100_000)))).toBe("AUTH_INVALID");
    expect(await codeOf(hs.verify(await signToken("alice", {}, { expiresIn: Math.floor(Date.now() / 1000) - 10 })))).toBe("AUTH_EXPIRED");
    expect(await codeOf(hs.verify(await signToken("alice", {}, { secret: "another-secret-0123456789-0123456789" })))).toBe("AUTH_INVALID");
  });

  it("refuses not-yet-valid tokens, tokens without exp, and invalid user ids", async () => {
    const key = new TextEncoder().encode(TEST_SECRET);
    const future = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("a")
      .setNotBefore(Math.floor(Date.now() / 1000) + 3600)
      .setExpirationTime("2h")
      .sign(key);
    expect(await codeOf(hs.verify(future))).toBe("AUTH_INVALID");
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("a").sign(key);
    expect(await codeOf(hs.verify(noExp))).toBe("AUTH_INVALID");
    for (const sub of ["", "a b", "x".repeat(129), "#u:admin", "ünïcode", "a\u0000b"])
      expect(await codeOf(hs.verify(await signToken(sub)))).toBe("AUTH_INVALID");
    expect(await codeOf(hs.verify(await signToken("a", { rooms: "conv:1" as unknown as string[] })))).toBe("AUTH_INVALID");
    expect(await codeOf(hs.verify(await signToken("a", { rooms: ["#u:bob"] })))).toBe("AUTH_INVALID");
  });

  it("refuses alg none", async () => {
    const none = `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "alice", exp: exp() })}.`;
    expect(await codeOf(hs.verify(none))).toBe("AUTH_INVALID");
    const rs = createTokenVerifier({ publicKeyFile: rsaPub });
    expect(await codeOf(rs.verify(none))).toBe("AUTH_INVALID");
  });

  it("refuses an HS256 token signed with the RSA public key (algorithm confusion)", async () => {
    const rs = createTokenVerifier({ publicKeyFile: rsaPub });
    const pem = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
    const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub: "mallory", exp: exp() })}`;
    const forged = `${head}.${createHmac("sha256", pem).update(head).digest("base64url")}`;
    expect(await codeOf(rs.verify(forged))).toBe("AUTH_INVALID");
  });

  it("verifies RS256 and ES256 with public key files, and refuses the wrong key type", async () => {
    const rs = createTokenVerifier({ publicKeyFile: rsaPub });
    const es = createTokenVerifier({ publicKeyFile: ecPub });
    const rsKey = await importPKCS8(rsa.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), "RS256");
    const esKey = await importPKCS8(ec.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), "ES256");
    const rsToken = await new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setSubject("bob").setExpirationTime("1h").sign(rsKey);
    const esToken = await new SignJWT({}).setProtectedHeader({ alg: "ES256" }).setSubject("carol").setExpirationTime("1h").sign(esKey);
    expect((await rs.verify(rsToken)).userId).toBe("bob");
    expect((await es.verify(esToken)).userId).toBe("carol");
    expect(await codeOf(rs.verify(esToken))).toBe("AUTH_INVALID");
    expect(await codeOf(es.verify(rsToken))).toBe("AUTH_INVALID");
    expect(await codeOf(rs.verify(await signToken("x")))).toBe("AUTH_INVALID");
  });

  it("verifies with a JWKS file and refuses symmetric algorithms there", async () => {
    const jwk = { ...(await exportJWK(ec.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    const file = join(dir, "jwks.json");
    writeFileSync(file, JSON.stringify({ keys: [jwk] }));
    const v = createTokenVerifier({ jwksFile: file });
    const esKey = await importPKCS8(ec.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), "ES256");
    const good = await new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: "k1" }).setSubject("dave").setExpirationTime("1h").sign(esKey);
    expect((await v.verify(good)).userId).toBe("dave");
    expect(await codeOf(v.verify(await signToken("dave")))).toBe("AUTH_INVALID");
  });

  it("dev mode issues tokens it accepts, and only it", async () => {
    const dev = createTokenVerifier({});
    expect(dev.mode).toBe("dev");
    const token = await dev.issueDevToken!("dev-user");
    expect((await dev.verify(token)).userId).toBe("dev-user");
    expect(await codeOf(createTokenVerifier({}).verify(token))).toBe("AUTH_INVALID");
    expect(hs.issueDevToken).toBeUndefined();
  });
});
