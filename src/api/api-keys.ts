// Bearer API keys, compared in constant time. Keys are hashed first so that comparison time
// depends neither on where the first difference is nor on the key's length.
import { createHash, timingSafeEqual } from "node:crypto";

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** True when the Authorization header carries one of the keys. Every key is compared, always. */
  check(authorization: string): boolean {
    const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(authorization);
    const candidate = digest(m ? m[1]! : "");
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, candidate) || ok;
    return ok && m !== null;
  }
}
