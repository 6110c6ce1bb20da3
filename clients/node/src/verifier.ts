/**
 * Verifier: signature from cached keys, revocation from a local view kept
 * current by the revocation feed. The request path does no IO, except a
 * rate-limited JWKS refetch for a `kid` it has never seen.
 *
 * A token presented again is found in a cache of verified tokens, keyed by
 * the exact token string, which skips the signature and the JSON parsing
 * (the same string can only carry the same claims). Expiry, staleness and
 * revocation depend on *now* and on the view, so they are checked on every
 * call, hit or miss. A change of the key set invalidates the cache.
 *
 * The checks and their error kinds are those of the Python
 * `jwtwarden.tokens.access.decode_access_token` and `Verifier.verify`.
 */

import { compactVerify, errors as joseErrors } from "jose";

import {
  BadSignatureError,
  ClaimsError,
  ConfigurationError,
  ExpiredTokenError,
  InsufficientScopeError,
  InvalidTokenError,
  JwtWardenError,
  MalformedTokenError,
  RevokedTokenError,
  SessionRevokedError,
  StaleRevocationsError,
  TokenDeniedError,
  UnknownKeyError,
  UserBannedError,
  UserCutoffError,
} from "./errors.js";
import { RevocationFeed, type Clock, type Fetch } from "./feed.js";
import { KeySet } from "./jwks.js";
import { RevocationView, type Cause } from "./view.js";

/** Longest access token accepted; jwtwarden's are ~600 bytes (RS256 ~750). */
export const MAX_TOKEN_LENGTH = 8192;
const MAX_ID = 256;
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Header parameters that would let a token choose its own key (RFC 8725 §3). */
const FORBIDDEN_HEADERS = ["jku", "jwk", "x5u", "x5c", "crit"];
const TYPES = new Set(["at+jwt", "application/at+jwt"]);
/** Base64url characters a signature's last character may be when its unused
 * low bits are zero, by the segment's length mod 4 (RFC 4648 §3.5): any other
 * spelling decodes to the same bytes. The Python verifier refuses the same. */
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const CANONICAL_LAST: Record<number, string> = {
  2: [...B64URL].filter((_, i) => i % 16 === 0).join(""),
  3: [...B64URL].filter((_, i) => i % 4 === 0).join(""),
};

/** The verified claims of an access token. */
export interface AccessClaims {
  readonly sub: string;
  readonly sid: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
  /** The exact login instant (`jwtwarden_auth_time`), what cutoffs judge;
   * `raw.auth_time` is its whole second. */
  readonly authTime: number;
  readonly roles: readonly string[];
  readonly clientId: string;
  /** Every claim as decoded, for callers that want extra ones. */
  readonly raw: Readonly<Record<string, unknown>>;
}

export type StaleDecision = "reject" | "allow";

export interface VerifierOptions {
  /** The jwtwarden server's issuer URL (`iss` of its tokens). */
  issuer: string;
  /** The `aud` this resource server accepts (jwtwarden's default: `jwtwarden`). */
  audience: string;
  /** Resource-server credentials from `jwtwarden clients add NAME`. */
  clientId?: string;
  clientSecret?: string;
  /** Seconds the feed may be silent before `onStale` applies (default 10). */
  maxStaleness?: number;
  /** Past `maxStaleness`: `"reject"` (fail closed, the default; middleware
   * answers 503) or `"allow"` (judge by the view as it is), or a function
   * deciding per call from the staleness in seconds. */
  onStale?: StaleDecision | ((staleness: number) => StaleDecision);
  /** `false` turns revocation checking off (signatures and claims only). */
  revocations?: boolean;
  /** Defaults from the server metadata (`/.well-known/oauth-authorization-server`). */
  jwksUri?: string;
  /** Defaults to the metadata's `jwtwarden_revocations_endpoint`, else `<issuer>/revocations`. */
  feedUrl?: string;
  /** Static keys (a JWK Set) instead of fetching `jwks_uri`. */
  jwks?: { keys: unknown[] };
  /** Clock leeway in seconds for `exp`, `nbf` and a future `iat` (default 0). */
  leeway?: number;
  /** The issuer's access-token lifetime (its `JWTWARDEN_ACCESS_TTL`): a token
   * whose `exp - iat` is longer is refused, since it would outlive the feed's
   * record of its revocation. Unset (the default): `exp` alone is judged. */
  maxLifetime?: number;
  /** Seconds since the epoch (default `Date.now() / 1000`). */
  clock?: Clock;
  /** Verified tokens remembered (least recently used out first); 0 disables. */
  cacheSize?: number;
  /** Seconds between JWKS refetches on an unknown `kid` (default 30). */
  jwksRefetchInterval?: number;
  /** Seconds after which the JWKS is refreshed in the background (default 300). */
  jwksMaxAge?: number;
  /** Feed reconnection: first and longest delay, idle timeout (ms). */
  reconnectDelay?: number;
  maxReconnectDelay?: number;
  idleTimeout?: number;
  fetch?: Fetch;
  /** Told about feed connection failures and discovery errors. */
  onError?: (error: Error) => void;
}

interface Header {
  alg: string;
  kid: string;
}

interface Cached {
  claims: AccessClaims;
  version: number;
}

const CAUSE_ERRORS: Record<Cause, new () => RevokedTokenError> = {
  denied: TokenDeniedError,
  session: SessionRevokedError,
  cutoff: UserCutoffError,
  banned: UserBannedError,
};

/** The error that names a revocation cause. */
export function revokedError(cause: Cause): RevokedTokenError {
  return new CAUSE_ERRORS[cause]();
}

export class Verifier {
  readonly issuer: string;
  readonly audience: string;
  readonly view: RevocationView;
  /** The revocation feed, once discovery found it (null when revocations are off). */
  feed: RevocationFeed | null = null;
  readonly maxStaleness: number;
  readonly leeway: number;
  readonly maxLifetime: number | null;
  readonly keys: KeySet;
  /** Tokens accepted while revocations were stale (`onStale` allowed them):
   * what an operator who chose to fail open should alert on. */
  staleAcceptances = 0;

  private readonly revocations: boolean;
  private readonly onStale: (staleness: number) => StaleDecision;
  private readonly clock: Clock;
  private readonly cacheSize: number;
  private readonly cache = new Map<string, Cached>();
  private readonly headers = new Map<string, Header>();
  private readonly options: VerifierOptions;
  private readonly fetch: Fetch;
  private readonly starting: Promise<void>;
  private closed = false;
  private readonly closing = new AbortController();

  constructor(options: VerifierOptions) {
    if (typeof options.issuer !== "string" || options.issuer === "") {
      throw new ConfigurationError("createVerifier needs an issuer.");
    }
    if (typeof options.audience !== "string" || options.audience === "") {
      throw new ConfigurationError("createVerifier needs an audience.");
    }
    this.options = options;
    this.issuer = options.issuer;
    this.audience = options.audience;
    this.revocations = options.revocations !== false;
    if (this.revocations && (!options.clientId || options.clientSecret === undefined)) {
      throw new ConfigurationError(
        "Revocations need clientId and clientSecret (jwtwarden clients add NAME), or revocations: false.",
      );
    }
    this.maxStaleness = options.maxStaleness ?? 10;
    if (!(this.maxStaleness > 0)) throw new ConfigurationError("maxStaleness must be positive.");
    const onStale = options.onStale ?? "reject";
    if (typeof onStale === "function") this.onStale = onStale;
    else if (onStale === "reject" || onStale === "allow") this.onStale = () => onStale;
    else throw new ConfigurationError('onStale is "reject", "allow" or a function.');
    this.leeway = options.leeway ?? 0;
    this.maxLifetime = options.maxLifetime ?? null;
    if (this.maxLifetime !== null && !(this.maxLifetime > 0 && Number.isFinite(this.maxLifetime))) {
      throw new ConfigurationError("maxLifetime must be a positive number of seconds.");
    }
    this.clock = options.clock ?? (() => Date.now() / 1000);
    this.cacheSize = options.cacheSize ?? 10_000;
    if (!(this.cacheSize >= 0)) throw new ConfigurationError("cacheSize must not be negative.");
    this.fetch = options.fetch ?? globalThis.fetch;
    this.view = new RevocationView();
    this.keys = new KeySet({
      url: options.jwks ? null : (options.jwksUri ?? null),
      clock: this.clock,
      fetch: this.fetch,
      refetchInterval: options.jwksRefetchInterval ?? 30,
      maxAge: options.jwksMaxAge ?? 300,
    });
    this.starting = this.start();
    this.starting.catch(() => {});
  }

  /** Resolves when keys are loaded and (with revocations) the first snapshot
   * is in; rejects after `timeoutMs`. Tokens verified before that are
   * rejected as stale (fail closed) unless `onStale` allows them. */
  async ready(timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("jwtwarden verifier not ready in time")), timeoutMs);
    });
    try {
      await Promise.race([
        this.starting.then(() => (this.feed ? this.feed.ready() : undefined)),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether revocations are current (always, with revocations off): what
   * a resource server's readiness check reports. */
  isFresh(): boolean {
    if (!this.revocations) return true;
    return this.feed !== null && this.feed.staleness(this.clock()) <= this.maxStaleness;
  }

  /** Seconds since the feed last confirmed the view (Infinity before it did). */
  staleness(): number {
    return this.feed === null ? Number.POSITIVE_INFINITY : this.feed.staleness(this.clock());
  }

  /** Stop the feed; the verifier keeps its keys and view. */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    await this.starting.catch(() => {});
    await this.feed?.stop();
  }

  /**
   * The claims of a valid, unrevoked access token, or a rejection with an
   * `InvalidTokenError` subclass per cause: malformed, unknown key, bad
   * signature, claims, expired, stale revocations, denied, session revoked,
   * cutoff, banned. A token seen before resolves without any signature work.
   */
  verify(token: string): Promise<AccessClaims> {
    const now = this.clock();
    const cached = typeof token === "string" ? this.cache.get(token) : undefined;
    if (cached !== undefined && cached.version === this.keys.version) {
      const claims = cached.claims;
      if (now >= claims.exp + this.leeway) {
        this.cache.delete(token);
        return Promise.reject(new ExpiredTokenError());
      }
      // Least recently used goes first: a hit moves to the end.
      this.cache.delete(token);
      this.cache.set(token, cached);
      try {
        return Promise.resolve(this.judge(claims, now));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.verifyCold(token, now);
  }

  private async verifyCold(token: string, now: number): Promise<AccessClaims> {
    const version = this.keys.version;
    const claims = await this.decode(token, now);
    if (this.cacheSize > 0 && version === this.keys.version) {
      this.cache.set(token, { claims, version });
      if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    }
    return this.judge(claims, this.clock());
  }

  /** Staleness and revocation: checked on every call. */
  private judge(claims: AccessClaims, now: number): AccessClaims {
    if (this.revocations) {
      const feed = this.feed;
      const staleness = feed === null ? Number.POSITIVE_INFINITY : feed.staleness(now);
      if (staleness > this.maxStaleness) {
        if (this.onStale(staleness) !== "allow") {
          const error = new StaleRevocationsError();
          error.retryAfter = feed === null ? 1 : feed.retryAfter();
          throw error;
        }
        const cause = this.view.cause(claims, now);
        if (cause !== null) throw revokedError(cause);
        this.staleAcceptances++;
        return claims;
      }
    }
    const cause = this.view.cause(claims, now);
    if (cause !== null) throw revokedError(cause);
    return claims;
  }

  private async decode(token: string, now: number): Promise<AccessClaims> {
    if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH || !COMPACT.test(token)) {
      throw new MalformedTokenError();
    }
    const signatureLength = token.length - token.lastIndexOf(".") - 1;
    const canonical = CANONICAL_LAST[signatureLength % 4];
    if (canonical !== undefined && !canonical.includes(token.slice(-1))) {
      throw new MalformedTokenError();
    }
    const dot = token.indexOf(".");
    const header = this.header(token.slice(0, dot));
    // The key in memory is the common case: no extra await for it.
    const key = this.keys.get(header.kid) ?? (await this.keys.find(header.kid));
    if (key === undefined) {
      if (this.keys.loaded) throw new UnknownKeyError();
      // No key set yet (the JWKS never answered): not the token's fault.
      const error = new StaleRevocationsError("The verifier has no keys yet; try again shortly.");
      error.retryAfter = 1;
      throw error;
    }
    if (!key.algorithms.has(header.alg)) {
      throw new BadSignatureError("The access token algorithm does not match its key.");
    }
    let payload: Uint8Array;
    try {
      ({ payload } = await compactVerify(token, key.key, { algorithms: [header.alg] }));
    } catch (error) {
      if (error instanceof joseErrors.JWSInvalid && !(error instanceof joseErrors.JWSSignatureVerificationFailed)) {
        throw new MalformedTokenError(undefined, { cause: error });
      }
      throw new BadSignatureError(undefined, { cause: error });
    }
    return checkClaims(jsonObject(payload), {
      issuer: this.issuer,
      audience: this.audience,
      now,
      leeway: this.leeway,
      maxLifetime: this.maxLifetime,
    });
  }

  /** The checked header of a token; the header of every token of one key is
   * the same string, so its checks run once per key. */
  private header(segment: string): Header {
    const known = this.headers.get(segment);
    if (known !== undefined) return known;
    const header = jsonObject(Buffer.from(segment, "base64url"));
    const { alg, kid, typ } = header;
    if (typeof alg !== "string" || alg.toLowerCase() === "none") {
      throw new MalformedTokenError("The access token is unsigned.");
    }
    if (FORBIDDEN_HEADERS.some((name) => Object.hasOwn(header, name))) {
      throw new MalformedTokenError("The access token names its own key; refused.");
    }
    if (Object.hasOwn(header, "cty")) {
      // A nested JWT or another content type (RFC 8725 §3.11).
      throw new MalformedTokenError("The access token declares a content type; refused.");
    }
    if (typeof typ !== "string" || !TYPES.has(typ.toLowerCase())) {
      throw new ClaimsError("The token is not an access token (typ).");
    }
    if (typeof kid !== "string" || kid === "" || kid.length > MAX_ID) throw new UnknownKeyError();
    const checked = { alg, kid };
    if (this.headers.size < 64) this.headers.set(segment, checked);
    return checked;
  }

  private async start(): Promise<void> {
    let { jwksUri, feedUrl } = this.options;
    if (this.options.jwks) {
      await this.keys.install(this.options.jwks);
    }
    const needsMetadata = (!this.options.jwks && !jwksUri) || (this.revocations && !feedUrl);
    if (needsMetadata) {
      const metadata = await this.discover();
      if (metadata === null) return; // closed meanwhile
      jwksUri ??= stringField(metadata, "jwks_uri");
      feedUrl ??= stringField(metadata, "jwtwarden_revocations_endpoint") ?? `${trimSlash(this.issuer)}/revocations`;
    }
    if (this.closed) return;
    if (this.revocations && feedUrl) {
      this.feed = new RevocationFeed({
        url: feedUrl,
        clientId: this.options.clientId!,
        clientSecret: this.options.clientSecret!,
        view: this.view,
        clock: this.clock,
        fetch: this.fetch,
        reconnectDelay: this.options.reconnectDelay,
        maxReconnectDelay: this.options.maxReconnectDelay,
        idleTimeout: this.options.idleTimeout,
        onError: this.options.onError,
      }).start();
    }
    if (!this.options.jwks) {
      if (!jwksUri) throw new ConfigurationError("The server metadata names no jwks_uri.");
      this.keys.setUrl(jwksUri);
      await this.retry(() => this.keys.refresh());
    }
  }

  /** RFC 8414 metadata, retried until it answers (or the verifier closes). */
  private async discover(): Promise<Record<string, unknown> | null> {
    const url = `${trimSlash(this.issuer)}/.well-known/oauth-authorization-server`;
    return this.retry(async () => {
      const response = await this.fetch(url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(10_000) });
      if (response.status !== 200) throw new Error(`metadata answered ${response.status}`);
      const metadata = (await response.json()) as Record<string, unknown>;
      if (metadata["issuer"] !== this.issuer) {
        // RFC 8414 §3.3: the issuer in the metadata must be the one configured.
        throw new ConfigurationError(`The server's metadata names issuer ${String(metadata["issuer"])}.`);
      }
      return metadata;
    });
  }

  private async retry<T>(attempt: () => Promise<T>): Promise<T | null> {
    for (let failures = 0; ; failures++) {
      if (this.closed) return null;
      try {
        return await attempt();
      } catch (error) {
        this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
        const ceiling = Math.min(5000, 250 * 2 ** Math.min(failures, 10));
        await pause(ceiling / 2 + (Math.random() * ceiling) / 2, this.closing.signal);
      }
    }
  }
}

/** A verifier for a jwtwarden server; it starts following the feed and
 * fetching keys at once. `await verifier.ready()` before serving traffic. */
export function createVerifier(options: VerifierOptions): Verifier {
  return new Verifier(options);
}

/** Wait `ms`, or less if `signal` aborts; the timer keeps no process alive. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener("abort", done);
  });
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

function stringField(data: Record<string, unknown>, name: string): string | undefined {
  const value = data[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function jsonObject(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(UTF8.decode(bytes));
  } catch (error) {
    throw new MalformedTokenError(undefined, { cause: error });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new MalformedTokenError();
  return value as Record<string, unknown>;
}

/** NumericDate (RFC 7519 §2), integer or fractional; bounded so neither
 * NaN, infinity nor an absurd value reaches a comparison. */
function isNumericDate(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 && value < 1e12;
}

function stringClaim(payload: Record<string, unknown>, name: string): string {
  const value = payload[name];
  if (typeof value !== "string" || value === "" || value.length > MAX_ID) {
    throw new ClaimsError(`The access token lacks a valid '${name}' claim.`);
  }
  return value;
}

function dateClaim(payload: Record<string, unknown>, name: string): number {
  const value = payload[name];
  if (!isNumericDate(value)) throw new ClaimsError(`The access token lacks a valid '${name}' claim.`);
  return value;
}

/** The private claim with the exact login instant (float seconds); the
 * whole-second `auth_time` is its floor. */
export const EXACT_AUTH_TIME = "jwtwarden_auth_time";

/** The login instant a cutoff judges a token by, as Python's
 * `tokens.access.exact_auth_time`: `jwtwarden_auth_time` when present (it
 * must fall in the second `auth_time` names), else `auth_time` itself,
 * which, rounded down, errs towards revoking. */
function exactAuthTimeOf(payload: Record<string, unknown>, authTime: number): number {
  if (!(EXACT_AUTH_TIME in payload)) return authTime;
  const exact = payload[EXACT_AUTH_TIME];
  if (!isNumericDate(exact) || Math.floor(exact) !== Math.floor(authTime)) {
    throw new ClaimsError(`The access token lacks a valid '${EXACT_AUTH_TIME}' claim.`);
  }
  return exact;
}

/** The claim rules of the Python `_check_claims`, in the same order. */
export function checkClaims(
  payload: Record<string, unknown>,
  options: { issuer: string; audience: string; now: number; leeway: number; maxLifetime?: number | null },
): AccessClaims {
  const sub = stringClaim(payload, "sub");
  const sid = stringClaim(payload, "sid");
  const jti = stringClaim(payload, "jti");
  const exp = dateClaim(payload, "exp");
  const iat = dateClaim(payload, "iat");
  const authTime = dateClaim(payload, "auth_time");
  const { now, leeway } = options;
  if (payload["iss"] !== options.issuer) throw new ClaimsError("The access token has the wrong issuer.");
  const aud = payload["aud"];
  if (!(aud === options.audience || (Array.isArray(aud) && aud.includes(options.audience)))) {
    throw new ClaimsError("The access token is not meant for this audience.");
  }
  if (now >= exp + leeway) throw new ExpiredTokenError();
  if (iat > now + leeway || authTime > iat) throw new ClaimsError("The access token was issued in the future.");
  // Issued with exp = floor(now + ttl), iat = floor(now): a genuine span is at most ceil(ttl).
  const { maxLifetime } = options;
  if (maxLifetime != null && exp - iat > Math.ceil(maxLifetime)) {
    throw new ClaimsError("The access token lives longer than this issuer's access tokens do.");
  }
  const exactAuthTime = exactAuthTimeOf(payload, authTime);
  const nbf = payload["nbf"];
  if (nbf !== undefined && nbf !== null && (!isNumericDate(nbf) || nbf > now + leeway)) {
    throw new ClaimsError("The access token is not valid yet.");
  }
  const roles = payload["roles"] ?? [];
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === "string")) {
    throw new ClaimsError("The access token roles are malformed.");
  }
  const clientId = payload["client_id"] ?? "";
  if (typeof clientId !== "string") throw new ClaimsError("The access token client_id is malformed.");
  return Object.freeze({
    sub,
    sid,
    jti,
    iat,
    exp,
    authTime: exactAuthTime,
    roles: Object.freeze([...(roles as string[])]),
    clientId,
    raw: Object.freeze(payload),
  });
}

/** `claims` when they carry every role in `roles`; else InsufficientScopeError. */
export function requireRoles(claims: AccessClaims, roles: Iterable<string>): AccessClaims {
  for (const role of roles) {
    if (!claims.roles.includes(role)) {
      throw new InsufficientScopeError(`The access token lacks the role '${role}'.`);
    }
  }
  return claims;
}

