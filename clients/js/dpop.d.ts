import type { LockManagerLike } from "./jwtwarden.js";

/** Where the key pair is kept: IndexedDB by default. */
export interface KeyStore {
  get(): Promise<CryptoKeyPair | undefined>;
  put(pair: CryptoKeyPair): Promise<void>;
  delete(): Promise<void>;
}

export function indexedDbKeyStore(options?: { indexedDB?: IDBFactory; name?: string }): KeyStore;
export function memoryKeyStore(): KeyStore;
/** A request URL without query and fragment (RFC 9449 §4.2). */
export function htu(url: string): string;
export function base64url(bytes: ArrayBuffer | Uint8Array): string;

export interface ProofRequest {
  method: string;
  url: string;
  /** The access token presented with the proof (its hash becomes `ath`). */
  accessToken?: string;
  /** The server's latest `DPoP-Nonce`. */
  nonce?: string;
  /** Milliseconds since the epoch (default `Date.now()`). */
  now?: number;
}

/** A non-extractable ECDSA P-256 key pair and the proofs it signs. */
export class DpopKey {
  static load(options?: { store?: KeyStore; subtle?: SubtleCrypto }): Promise<DpopKey>;
  static fromPair(pair: CryptoKeyPair, subtle?: SubtleCrypto): Promise<DpopKey>;
  readonly pair: CryptoKeyPair;
  /** The public JWK every proof carries. */
  readonly jwk: { kty: "EC"; crv: "P-256"; x: string; y: string };
  /** RFC 7638 thumbprint: the `cnf.jkt` of tokens bound to this key. */
  thumbprint(): Promise<string>;
  proof(request: ProofRequest): Promise<string>;
}

export interface DpopTokens {
  access_token: string;
  refresh_token: string;
  /** Milliseconds since the epoch. */
  expires_at: number;
}

export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface DpopClientOptions {
  key: DpopKey;
  /** The jwtwarden server; the page's origin by default. */
  baseUrl?: string;
  /** Default "/token". */
  tokenPath?: string;
  /** Refresh this many seconds before the access token expires (default 30). */
  refreshMargin?: number;
  /** Milliseconds to wait for another tab's refresh before stealing the lock (default 5000). */
  lockTimeout?: number;
  /** Keep the tokens here (e.g. sessionStorage) instead of the page's memory. */
  storage?: StorageLike;
  storageKey?: string;
  onSignedOut?: (reason: "signed-out" | "ended") => void;
  fetch?: typeof fetch;
  /** Web Locks; `null` for none. */
  locks?: LockManagerLike | null;
  now?: () => number;
}

export class DpopClient {
  constructor(options: DpopClientOptions);
  readonly tokens: DpopTokens | null;
  login(username: string, password: string, extra?: Record<string, string>): Promise<DpopTokens>;
  grant(form: Record<string, string>): Promise<DpopTokens>;
  refresh(): Promise<DpopTokens>;
  fetch(input: string | URL, init?: RequestInit): Promise<Response>;
  logout(): Promise<void>;
}

export class DpopSessionEndedError extends Error {
  readonly error: string;
}
export class DpopRequestError extends Error {
  readonly status: number;
  readonly error: string;
}
