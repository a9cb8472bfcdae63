// Signs test JWTs the way an identity provider would.
import { SignJWT, type JWTPayload } from "jose";

export const TEST_SECRET = "test-secret-0123456789-0123456789-abcdef";
export const TEST_API_KEY = "test-api-key-0123456789abcdef";

export async function signToken(
  sub: string,
  extra: JWTPayload & { rooms?: string[] } = {},
  /** expiresIn: a jose duration ("1h") or an absolute exp in seconds; issuedAt: iat in seconds (default now), null = no iat claim. */
  opts: { secret?: string; expiresIn?: string | number; issuedAt?: number | null } = {},
): Promise<string> {
  const key = new TextEncoder().encode(opts.secret ?? TEST_SECRET);
  // Like a typical issuer's test user: every room, unless the test says otherwise ({ rooms: undefined } drops the claim).
  const claims: JWTPayload = "rooms" in extra ? { ...extra } : { rooms: ["*"], ...extra };
  if (claims.rooms === undefined) delete claims.rooms;
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setSubject(sub);
  if (opts.issuedAt !== null) jwt.setIssuedAt(opts.issuedAt);
  return jwt.setExpirationTime(opts.expiresIn ?? "1h").sign(key);
}
