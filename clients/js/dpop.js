// jwtwarden DPoP (RFC 9449) for bearer-mode single-page apps: a key pair
// the page can use but never read, proofs signed with it, and a client that
// obtains, refreshes and presents tokens bound to it. No dependencies, no
// build step.
//
// - The key is WebCrypto ECDSA P-256 made with `extractable: false`: its
//   private half can sign but no script can export it, and IndexedDB keeps
//   the CryptoKeyPair itself (structured clone keeps it non-extractable), so
//   a reload keeps the binding. Tokens copied out of the page (an XSS that
//   reads them, a leaked log, a synced storage) open nothing without it.
// - Every request gets a fresh proof: `htm`, `htu` (the URL without query
//   and fragment), `iat`, a random `jti`, `ath` (the access token's SHA-256)
//   at resource servers, and the server's nonce once one was sent.
// - A `use_dpop_nonce` answer is retried once with the nonce it carried
//   (RFC 9449 §8, §9); nonces are kept per origin.
// - A refresh presents the bound refresh token with a proof by the same key;
//   one refresh at a time in a page, and across the tabs of an origin when
//   the tokens live in shared storage (jwtwarden.js's Web Lock, stolen when
//   not granted within `lockTimeout`, and the stored tokens read again once
//   it is held: another tab may have refreshed meanwhile).

import { withLock } from "./jwtwarden.js";

const DB_NAME = "jwtwarden-dpop";
const DB_STORE = "keys";
const KEY_ID = "dpop";
const LOCK = "jwtwarden-dpop-refresh";
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256" };
const SIGNATURE = { name: "ECDSA", hash: "SHA-256" };
const encoder = new TextEncoder();

/** The session is over (the refresh token was refused): sign in again. */
export class DpopSessionEndedError extends Error {
  constructor(error) {
    super(`jwtwarden: the session is over (${error})`);
    this.name = "DpopSessionEndedError";
    this.error = error;
  }
}

/** The token endpoint refused a request, or could not be reached. */
export class DpopRequestError extends Error {
  constructor(status, error, description) {
    super(`jwtwarden: ${error}${description ? `: ${description}` : ""} (HTTP ${status})`);
    this.name = "DpopRequestError";
    this.status = status;
    this.error = error;
  }
}

export function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function encodeJson(value) {
  return base64url(encoder.encode(JSON.stringify(value)));
}

/** The `htu` of a request to `url`: the URL without query and fragment
 * (RFC 9449 §4.2). The server normalises case, default ports and
 * percent-encoding itself (§4.3 step 9). */
export function htu(url) {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** An IndexedDB home for the key pair, one per origin. */
export function indexedDbKeyStore({ indexedDB = globalThis.indexedDB, name = DB_NAME } = {}) {
  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(DB_STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  async function run(mode, act) {
    const db = await open();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(DB_STORE, mode);
        const request = act(tx.objectStore(DB_STORE));
        tx.oncomplete = () => resolve(request.result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }
  return {
    get: () => run("readonly", (store) => store.get(KEY_ID)),
    put: (pair) => run("readwrite", (store) => store.put(pair, KEY_ID)),
    delete: () => run("readwrite", (store) => store.delete(KEY_ID)),
  };
}

/** A key store for tests and for pages that want a new key per load. */
export function memoryKeyStore() {
  let pair;
  return {
    get: async () => pair,
    put: async (value) => {
      pair = value;
    },
    delete: async () => {
      pair = undefined;
    },
  };
}

/** A non-extractable signing key and the proofs it makes. */
export class DpopKey {
  /** The key kept in `store` (IndexedDB by default), made on first use. */
  static async load({ store = indexedDbKeyStore(), subtle = globalThis.crypto.subtle } = {}) {
    let pair = await store.get();
    if (!pair) {
      pair = await subtle.generateKey(ALGORITHM, false, ["sign", "verify"]);
      await store.put(pair);
    }
    return DpopKey.fromPair(pair, subtle);
  }

  static async fromPair(pair, subtle = globalThis.crypto.subtle) {
    // The public half is always exportable; the private half never is.
    const { kty, crv, x, y } = await subtle.exportKey("jwk", pair.publicKey);
    return new DpopKey(pair, { kty, crv, x, y }, subtle);
  }

  constructor(pair, jwk, subtle) {
    this.pair = pair;
    /** The public JWK that every proof carries. */
    this.jwk = jwk;
    this._subtle = subtle;
    this._header = encodeJson({ typ: "dpop+jwt", alg: "ES256", jwk });
  }

  /** The RFC 7638 thumbprint: what tokens bound to this key carry in
   * `cnf.jkt`. The members in lexicographic order, no whitespace. */
  async thumbprint() {
    const { crv, kty, x, y } = this.jwk;
    const canonical = JSON.stringify({ crv, kty, x, y });
    return base64url(await this._subtle.digest("SHA-256", encoder.encode(canonical)));
  }

  /** A proof for one request: `method` and the full `url`; `accessToken`
   * when presenting one (its hash becomes `ath`); `nonce` once the server
   * sent one. */
  async proof({ method, url, accessToken, nonce, now = Date.now() }) {
    const claims = {
      jti: base64url(globalThis.crypto.getRandomValues(new Uint8Array(16))),
      htm: method.toUpperCase(),
      htu: htu(url),
      iat: Math.floor(now / 1000),
    };
    if (accessToken !== undefined) {
      claims.ath = base64url(await this._subtle.digest("SHA-256", encoder.encode(accessToken)));
    }
    if (nonce !== undefined) claims.nonce = nonce;
    const input = `${this._header}.${encodeJson(claims)}`;
    // WebCrypto's ECDSA signature is r || s, which is JWS's ES256 form.
    const signature = await this._subtle.sign(SIGNATURE, this.pair.privateKey, encoder.encode(input));
    return `${input}.${base64url(signature)}`;
  }
}

/** Where the tokens live: in the page's memory by default (each page
 * signs in on its own), or in shared storage such as sessionStorage or
 * localStorage, where they are of no use without the key. */
function tokenHolder(storage, name) {
  let memory = null;
  return {
    read() {
      if (!storage) return memory;
      const text = storage.getItem(name);
      return text ? JSON.parse(text) : null;
    },
    write(tokens) {
      if (!storage) memory = tokens;
      else if (tokens) storage.setItem(name, JSON.stringify(tokens));
      else storage.removeItem(name);
    },
  };
}

/** A bearer-mode client whose tokens are bound to a DPoP key. */
export class DpopClient {
  constructor(options = {}) {
    const o = options;
    if (!o.key) throw new TypeError("a DpopKey is required (await DpopKey.load())");
    this.key = o.key;
    this.baseUrl = (o.baseUrl ?? globalThis.location?.origin ?? "").replace(/\/+$/, "");
    this.tokenPath = o.tokenPath ?? "/token";
    this.refreshMargin = (o.refreshMargin ?? 30) * 1000;
    this.lockTimeout = o.lockTimeout ?? 5000;
    this.onSignedOut = o.onSignedOut;
    this._fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this._now = o.now ?? (() => Date.now());
    this._locks = o.locks !== undefined ? o.locks : globalThis.navigator?.locks;
    this._tokens = tokenHolder(o.storage, o.storageKey ?? "jwtwarden-dpop-tokens");
    this._nonces = new Map();
    this._inflight = null;
  }

  /** The tokens held now: `{access_token, refresh_token, expires_at}`, or
   * null. Worthless to anyone without the key. */
  get tokens() {
    return this._tokens.read();
  }

  /** Sign in with a username and password (the password grant). */
  async login(username, password, extra = {}) {
    return this.grant({ grant_type: "password", username, password, ...extra });
  }

  /** Any grant at the token endpoint, with a proof: the tokens it answers
   * are bound to this page's key. */
  async grant(form) {
    const response = await this._tokenRequest(form);
    return this._accept(response);
  }

  /** Refresh now (one refresh at a time; see the top of this file). */
  async refresh() {
    if (!this._inflight) {
      const before = this.tokens;
      const run = async () => {
        const now = this.tokens;
        // Another tab refreshed while this one waited for the lock.
        if (before && now && now.refresh_token !== before.refresh_token) return now;
        if (!now) throw new DpopSessionEndedError("signed-out");
        return this._accept(
          await this._tokenRequest({ grant_type: "refresh_token", refresh_token: now.refresh_token }),
        );
      };
      const locked = this._locks ? withLock(this._locks, LOCK, this.lockTimeout, run) : run();
      this._inflight = locked.finally(() => {
        this._inflight = null;
      });
    }
    return this._inflight;
  }

  /** `fetch` with `Authorization: DPoP <token>` and a proof. It refreshes
   * first when the token is about to expire, retries once on
   * `use_dpop_nonce`, and refreshes and retries once on another 401. */
  async fetch(input, init = {}) {
    let tokens = this.tokens;
    if (!tokens) throw new DpopSessionEndedError("signed-out");
    if (tokens.expires_at - this.refreshMargin <= this._now()) tokens = await this.refresh();
    let response = await this._present(input, init, tokens.access_token);
    if (response.status === 401 && !isNonceChallenge(response)) {
      tokens = await this.refresh();
      response = await this._present(input, init, tokens.access_token);
    }
    return response;
  }

  /** Forget the tokens (revoking the refresh token, and so the session,
   * at the server's `/revoke`). The key stays: it is the page's. */
  async logout() {
    const tokens = this.tokens;
    this._tokens.write(null);
    if (tokens) {
      await this._fetch(this.baseUrl + "/revoke", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: tokens.refresh_token, token_type_hint: "refresh_token" }),
      }).catch(() => undefined);
    }
    this.onSignedOut?.("signed-out");
  }

  async _present(input, init, accessToken) {
    const url = new URL(String(input), this.baseUrl || undefined).href;
    const method = (init.method ?? "GET").toUpperCase();
    const send = async () => {
      const headers = new Headers(init.headers);
      headers.set("authorization", `DPoP ${accessToken}`);
      headers.set("dpop", await this._proof(method, url, accessToken));
      const response = await this._fetch(url, { ...init, method, headers });
      this._remember(url, response);
      return response;
    };
    const response = await send();
    return isNonceChallenge(response) ? send() : response;
  }

  async _tokenRequest(form) {
    const url = new URL(this.tokenPath, this.baseUrl || undefined).href;
    const send = async () => {
      const response = await this._fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          dpop: await this._proof("POST", url),
        },
        body: new URLSearchParams(form),
      });
      this._remember(url, response);
      return response;
    };
    let response = await send();
    if (response.status === 400 && (await errorOf(response.clone())) === "use_dpop_nonce") {
      response = await send();
    }
    return response;
  }

  async _accept(response) {
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = body.error ?? "server_error";
      if (error === "invalid_grant") {
        this._tokens.write(null);
        this.onSignedOut?.("ended");
        throw new DpopSessionEndedError(error);
      }
      throw new DpopRequestError(response.status, error, body.error_description);
    }
    if (body.token_type !== "DPoP") {
      // The server did not bind the tokens: using them would be bearer.
      throw new DpopRequestError(response.status, "unbound_tokens", "the server answered bearer tokens");
    }
    const tokens = {
      access_token: body.access_token,
      refresh_token: body.refresh_token,
      expires_at: this._now() + body.expires_in * 1000,
    };
    this._tokens.write(tokens);
    return tokens;
  }

  _proof(method, url, accessToken) {
    const nonce = this._nonces.get(new URL(url).origin);
    return this.key.proof({ method, url, accessToken, nonce, now: this._now() });
  }

  _remember(url, response) {
    const nonce = response.headers.get("dpop-nonce");
    if (nonce) this._nonces.set(new URL(url).origin, nonce);
  }
}

function isNonceChallenge(response) {
  return response.status === 401 && /error="use_dpop_nonce"/.test(response.headers.get("www-authenticate") ?? "");
}

async function errorOf(response) {
  try {
    return (await response.json()).error;
  } catch {
    return undefined;
  }
}
