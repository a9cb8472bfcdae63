// Verifies handshake JWTs with jose. The accepted algorithms follow the key type, never the token
// header, so `alg: none` and HS-signed tokens against a public key (algorithm confusion) are refused.
import { createPublicKey, createSecretKey, randomBytes, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createLocalJWKSet, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import { GatewayError } from "../errors.js";
import { ID_PATTERN, ROOM_PATTERN_PATTERN } from "./room-access.js";

export interface Identity {
  userId: string;
  /** Allow-list patterns from the `rooms` claim (ROOMS_CLAIM_DEFAULT when absent; empty = no room). `*` grants every room. */
  rooms: string[];
  /** `exp`, seconds since the epoch: enforced for the socket's whole life (auth/token-expiry.ts). */
  expiresAt?: number;
  /** `iat`, seconds since the epoch, when present: compared with the user's last kick (auth/kicks.ts). */
  issuedAt?: number;
}

export interface TokenVerifier {
  verify(token: unknown): Promise<Identity>;
  /** Only in dev mode: signs a token for the quick start. */
  issueDevToken?(userId: string, rooms?: string[]): Promise<string>;
  readonly mode: "hs256" | "public-key" | "jwks" | "dev";
}

const claimsSchema = z.object({
  sub: z.string().regex(ID_PATTERN, "sub must be 1-128 characters of A-Z a-z 0-9 . _ - : @"),
  exp: z.number().int().positive(),
  iat: z.number().nonnegative().optional(),
  rooms: z.array(z.string().regex(ROOM_PATTERN_PATTERN)).max(256).optional(),
});

const MAX_TOKEN_LENGTH = 8192;
const ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

function algorithmsFor(key: KeyObject): string[] {
  if (key.asymmetricKeyType === "rsa") return ["RS256", "RS384", "RS512"];
  if (key.asymmetricKeyType === "rsa-pss") return ["PS256", "PS384", "PS512"];
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return ["ES256"];
    if (curve === "secp384r1") return ["ES384"];
    if (curve === "secp521r1") return ["ES512"];
  }
  throw new Error(`unsupported public key type ${key.asymmetricKeyType ?? "?"}: use an RSA or P-256/P-384/P-521 EC key`);
}

export interface VerifierSources {
  /** JWT_AUDIENCE / JWT_ISSUER: when set, `aud` / `iss` must match. */
  audience?: string;
  issuer?: string;
  /** JWT_CLOCK_TOLERANCE_S: skew allowed on exp / nbf / iat. */
  clockToleranceS?: number;
  /** ROOMS_CLAIM_DEFAULT: the allow-list of a token without a `rooms` claim (default: none). */
  roomsDefault?: string[];
  secret?: string;
  publicKeyFile?: string;
  jwksFile?: string;
}

/** Builds the verifier for the configured key material; with none, a dev-mode verifier with a fresh secret. */
export function createTokenVerifier(src: VerifierSources): TokenVerifier {
  const checks = { audience: src.audience, issuer: src.issuer, clockTolerance: src.clockToleranceS ?? 5 };
  const verifyWith = (token: unknown, run: (token: string) => Promise<{ payload: JWTPayload }>) => verifyClaims(token, run, src.roomsDefault ?? []);
  if (src.secret) return hmacVerifier(createSecretKey(Buffer.from(src.secret, "utf8")), "hs256", checks, verifyWith);
  if (src.publicKeyFile) {
    const key = createPublicKey(readFileSync(src.publicKeyFile));
    if (key.type !== "public") throw new Error("JWT_PUBLIC_KEY_FILE must hold a public key");
    const algorithms = algorithmsFor(key);
    return { mode: "public-key", verify: (t) => verifyWith(t, (token) => jwtVerify(token, key, { algorithms, ...checks })) };
  }
  if (src.jwksFile) {
    const jwks = JSON.parse(readFileSync(src.jwksFile, "utf8"));
    const getKey: JWTVerifyGetKey = createLocalJWKSet(jwks);
    return { mode: "jwks", verify: (t) => verifyWith(t, (token) => jwtVerify(token, getKey, { algorithms: ASYMMETRIC, ...checks })) };
  }
  return hmacVerifier(createSecretKey(randomBytes(32)), "dev", checks, verifyWith);
}

type Checks = { audience?: string; issuer?: string; clockTolerance: number };
type VerifyWith = (token: unknown, run: (token: string) => Promise<{ payload: JWTPayload }>) => Promise<Identity>;

function hmacVerifier(key: KeyObject, mode: "hs256" | "dev", checks: Checks, verifyWith: VerifyWith): TokenVerifier {
  // Imported once as a WebCrypto key: handing jose the KeyObject re-imports it on every verify,
  // which halves the handshake rate (measured: 8k -> 17k verifies/s on one core).
  const cryptoKey = globalThis.crypto.subtle.importKey("raw", key.export(), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  cryptoKey.catch(() => undefined); // observed here; each verify still awaits (and would report) a failure
  return {
    mode,
    verify: (t) => verifyWith(t, async (token) => jwtVerify(token, await cryptoKey, { algorithms: ["HS256"], ...checks })),
    issueDevToken:
      mode === "dev"
        ? (userId, rooms) => {
            // Dev-mode tokens may join every room unless the caller narrows them.
            const claims: JWTPayload = {
              rooms: rooms ?? ["*"],
              ...(checks.audience ? { aud: checks.audience } : {}),
              ...(checks.issuer ? { iss: checks.issuer } : {}),
            };
            return new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setIssuedAt().setExpirationTime("24h").sign(key);
          }
        : undefined,
  };
}

async function verifyClaims(token: unknown, run: (token: string) => Promise<{ payload: JWTPayload }>, roomsDefault: string[]): Promise<Identity> {
  if (token === undefined || token === null || token === "") throw new GatewayError("AUTH_REQUIRED", "auth.token is required");
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) throw new GatewayError("AUTH_INVALID", "auth.token must be a JWT string");
  let payload: JWTPayload;
  try {
    ({ payload } = await run(token));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw new GatewayError("AUTH_EXPIRED", "token has expired");
    throw new GatewayError("AUTH_INVALID", "token is invalid");
  }
  const claims = claimsSchema.safeParse(payload);
  if (!claims.success) throw new GatewayError("AUTH_INVALID", `token claims are invalid: ${claims.error.issues[0]?.message ?? "bad claims"}`);
  // No `rooms` claim grants nothing (fail closed), unless ROOMS_CLAIM_DEFAULT says otherwise.
  return { userId: claims.data.sub, rooms: claims.data.rooms ?? roomsDefault, expiresAt: claims.data.exp, issuedAt: claims.data.iat };
}
