/**
 * The verification keys: a JWK Set fetched from the server's `jwks_uri`,
 * held in memory, refetched when older than `maxAge` (in the background)
 * and on an unknown `kid` (at most once per `refetchInterval`, so a flood of
 * tokens with made-up `kid`s costs the server one request per interval).
 *
 * Each key is bound to its algorithm family when imported; the token header
 * only picks among the names of that family (`EdDSA` or `Ed25519` for an
 * OKP key), never the family itself, so HS/RS confusion cannot happen.
 * `version` changes whenever the set changes, which empties the verified
 * token cache in effect: a withdrawn key vouches for nothing any more.
 */

import { importJWK, type JWK } from "jose";

import { ConfigurationError } from "./errors.js";
import type { Clock, Fetch } from "./feed.js";

export interface VerificationKey {
  kid: string;
  /** The `alg` names a token signed by this key may carry. */
  algorithms: ReadonlySet<string>;
  key: CryptoKey | Uint8Array;
}

const FAMILIES: Record<string, readonly string[]> = {
  EdDSA: ["EdDSA", "Ed25519"],
  Ed25519: ["EdDSA", "Ed25519"],
  ES256: ["ES256"],
  RS256: ["RS256"],
};

function familyOf(jwk: JWK): readonly string[] | undefined {
  if (typeof jwk.alg === "string") return FAMILIES[jwk.alg];
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return FAMILIES["EdDSA"];
  if (jwk.kty === "EC" && jwk.crv === "P-256") return FAMILIES["ES256"];
  if (jwk.kty === "RSA") return FAMILIES["RS256"];
  return undefined;
}

/** Import the signing keys of a JWK Set; keys of other uses, unsupported
 * algorithms (symmetric ones included) or without a `kid` are skipped. */
export async function importKeySet(jwks: unknown): Promise<Map<string, VerificationKey>> {
  if (typeof jwks !== "object" || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) {
    throw new ConfigurationError("The JWKS is not a JWK Set.");
  }
  const out = new Map<string, VerificationKey>();
  for (const jwk of (jwks as { keys: JWK[] }).keys) {
    if (typeof jwk !== "object" || jwk === null || typeof jwk.kid !== "string" || jwk.kid === "") continue;
    if (jwk.use !== undefined && jwk.use !== "sig") continue;
    if (jwk.kty === "oct" || "d" in jwk) continue; // never a secret or private key
    const family = familyOf(jwk);
    if (family === undefined) continue;
    try {
      const key = await importJWK({ ...jwk, alg: family[0] }, family[0]);
      out.set(jwk.kid, { kid: jwk.kid, algorithms: new Set(family), key });
    } catch {
      continue; // a key this runtime cannot use verifies nothing
    }
  }
  return out;
}

export interface KeySetOptions {
  url: string | null;
  clock: Clock;
  fetch: Fetch;
  refetchInterval: number;
  maxAge: number;
}

export class KeySet {
  /** Changes whenever the set of keys changes. */
  version = 0;
  /** Whether a key set was ever installed (fetched or static). */
  loaded = false;
  private keys = new Map<string, VerificationKey>();
  private fingerprint = "";
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<boolean> | null = null;

  constructor(private readonly options: KeySetOptions) {}

  /** Fetch keys from `url` from now on (known after discovery). */
  setUrl(url: string): void {
    this.options.url = url;
  }

  get size(): number {
    return this.keys.size;
  }

  /** Replace the keys (static keys, or a fetched set). */
  async install(jwks: unknown): Promise<boolean> {
    const keys = await importKeySet(jwks);
    this.loaded = true;
    const fingerprint = JSON.stringify([...keys.keys()].sort()) + JSON.stringify(jwks);
    if (fingerprint === this.fingerprint) return false;
    this.keys = keys;
    this.fingerprint = fingerprint;
    this.version++;
    return true;
  }

  /** The key for `kid`: from memory, or after a refetch when it is unknown
   * and the last attempt is older than the refetch interval. */
  async find(kid: string): Promise<VerificationKey | undefined> {
    const now = this.options.clock();
    const key = this.keys.get(kid);
    if (key !== undefined) {
      if (this.options.url !== null && now - this.fetchedAt > this.options.maxAge) {
        void this.refresh().catch(() => {}); // stale but usable: refresh behind
      }
      return key;
    }
    if (this.options.url === null || now - this.attemptedAt < this.options.refetchInterval) return undefined;
    await this.refresh().catch(() => false);
    return this.keys.get(kid);
  }

  /** The key for `kid` from memory, when it is there and fresh enough
   * (else `find` decides whether to fetch). */
  get(kid: string): VerificationKey | undefined {
    if (this.options.url !== null && this.options.clock() - this.fetchedAt > this.options.maxAge) return undefined;
    return this.keys.get(kid);
  }

  /** Fetch the JWKS now (one request at a time); whether the set changed. */
  refresh(): Promise<boolean> {
    if (this.options.url === null) return Promise.resolve(false);
    if (this.inflight === null) {
      this.attemptedAt = this.options.clock();
      this.inflight = this.fetchOnce(this.options.url).finally(() => (this.inflight = null));
    }
    return this.inflight;
  }

  private async fetchOnce(url: string): Promise<boolean> {
    const response = await this.options.fetch(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(10_000),
    });
    if (response.status !== 200) throw new Error(`JWKS answered ${response.status}`);
    const changed = await this.install(await response.json());
    this.fetchedAt = this.options.clock();
    return changed;
  }
}
