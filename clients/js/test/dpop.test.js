import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { DpopClient, DpopKey, DpopSessionEndedError, base64url, htu, memoryKeyStore } from "../dpop.js";
import { FakeLocks, json } from "./support/fakes.js";

const decoder = new TextDecoder();
const BASE = "https://auth.example.test";

function parts(jwt) {
  const [h, p, s] = jwt.split(".");
  const decode = (segment) =>
    JSON.parse(decoder.decode(Buffer.from(segment.replace(/-/g, "+").replace(/_/g, "/"), "base64")));
  return { header: decode(h), claims: decode(p), input: `${h}.${p}`, signature: Buffer.from(s, "base64url") };
}

async function verifies(proof) {
  const { header, input, signature } = parts(proof);
  const key = await crypto.subtle.importKey("jwk", header.jwk, { name: "ECDSA", namedCurve: "P-256" }, false, [
    "verify",
  ]);
  return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, new TextEncoder().encode(input));
}

async function sha256(text) {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** A token endpoint and a resource in miniature: it checks each proof's
 * signature, method, URL, `ath`, nonce and key, binds tokens to the key's
 * thumbprint and rotates refresh tokens. */
function dpopServer({ nonce = null, bearer = false } = {}) {
  const s = {
    requests: [],
    rotations: 0,
    refresh: null,
    seen: new Set(),
    async fetch(url, init = {}) {
      const headers = new Headers(init.headers);
      const method = init.method ?? "GET";
      const proof = headers.get("dpop");
      s.requests.push({ url, method, headers, proof: proof && parts(proof) });
      const reply = (status, body, extra = {}) => {
        const response = json(status, body);
        for (const [k, v] of Object.entries(extra)) response.headers.set(k, v);
        if (nonce) response.headers.set("dpop-nonce", nonce);
        return response;
      };
      if (!proof || !(await verifies(proof))) return reply(400, { error: "invalid_dpop_proof" });
      const { header, claims } = parts(proof);
      if (s.seen.has(claims.jti)) return reply(400, { error: "invalid_dpop_proof" });
      s.seen.add(claims.jti);
      if (claims.htm !== method || claims.htu !== htu(url)) return reply(400, { error: "invalid_dpop_proof" });
      const { crv, kty, x, y } = header.jwk;
      const jkt = await sha256(JSON.stringify({ crv, kty, x, y }));
      const { pathname } = new URL(url);
      if (pathname === "/token") {
        if (nonce && claims.nonce !== nonce) return reply(400, { error: "use_dpop_nonce" });
        const form = new URLSearchParams(init.body);
        if (form.get("grant_type") === "refresh_token") {
          if (form.get("refresh_token") !== s.refresh?.token) return reply(400, { error: "invalid_grant" });
          if (s.refresh.jkt !== jkt) return reply(400, { error: "invalid_dpop_proof" });
          s.rotations += 1;
        }
        s.refresh = { token: `rt-${s.rotations}`, jkt };
        return reply(200, {
          access_token: `at-${s.rotations}.${jkt}`,
          token_type: bearer ? "Bearer" : "DPoP",
          expires_in: 300,
          refresh_token: s.refresh.token,
        });
      }
      if (nonce && claims.nonce !== nonce) {
        return reply(401, {}, { "www-authenticate": 'DPoP error="use_dpop_nonce"' });
      }
      const [scheme, token] = (headers.get("authorization") ?? "").split(" ");
      const good = scheme === "DPoP" && token === `at-${s.rotations}.${jkt}` && claims.ath === (await sha256(token));
      return good ? reply(200, { ok: true }) : reply(401, {}, { "www-authenticate": 'DPoP error="invalid_token"' });
    },
  };
  return s;
}

async function client(server, extra = {}) {
  const key = extra.key ?? (await DpopKey.load({ store: memoryKeyStore() }));
  return new DpopClient({ baseUrl: BASE, key, fetch: server.fetch, locks: null, ...extra });
}

describe("the key", () => {
  test("is non-extractable: its private half signs but cannot be exported", async () => {
    const key = await DpopKey.load({ store: memoryKeyStore() });
    assert.equal(key.pair.privateKey.extractable, false);
    await assert.rejects(crypto.subtle.exportKey("jwk", key.pair.privateKey));
    assert.deepEqual(Object.keys(key.jwk).sort(), ["crv", "kty", "x", "y"]);
  });

  test("is kept by its store: loading again gives the same key", async () => {
    const store = memoryKeyStore();
    const first = await DpopKey.load({ store });
    const again = await DpopKey.load({ store });
    assert.equal(await again.thumbprint(), await first.thumbprint());
    assert.notEqual(await (await DpopKey.load({ store: memoryKeyStore() })).thumbprint(), await first.thumbprint());
  });
});

describe("a proof", () => {
  test("is a signed dpop+jwt with the public JWK, htm, htu without query and fragment, iat and a fresh jti", async () => {
    const key = await DpopKey.load({ store: memoryKeyStore() });
    const now = Date.UTC(2026, 11, 2, 12, 0, 0, 700);
    const proof = await key.proof({ method: "post", url: "https://rs.example.test:8443/a/b?q=1#frag", now });
    const { header, claims } = parts(proof);
    assert.deepEqual(header, { typ: "dpop+jwt", alg: "ES256", jwk: key.jwk });
    assert.equal(claims.htm, "POST");
    assert.equal(claims.htu, "https://rs.example.test:8443/a/b");
    assert.equal(claims.iat, Math.floor(now / 1000));
    assert.equal(claims.ath, undefined);
    assert.equal(claims.nonce, undefined);
    assert.match(claims.jti, /^[A-Za-z0-9_-]{22}$/);
    assert.ok(await verifies(proof));
    const other = parts(await key.proof({ method: "POST", url: "https://rs.example.test/", now }));
    assert.notEqual(other.claims.jti, claims.jti);
  });

  test("carries ath, the access token's SHA-256, and the server's nonce", async () => {
    const key = await DpopKey.load({ store: memoryKeyStore() });
    const proof = await key.proof({ method: "GET", url: `${BASE}/me`, accessToken: "at.x.y", nonce: "n-1" });
    const { claims } = parts(proof);
    assert.equal(claims.ath, await sha256("at.x.y"));
    assert.equal(claims.nonce, "n-1");
  });

  test("a tampered proof does not verify", async () => {
    const key = await DpopKey.load({ store: memoryKeyStore() });
    const proof = await key.proof({ method: "GET", url: `${BASE}/me` });
    const [h, , s] = proof.split(".");
    const forged = `${h}.${base64url(new TextEncoder().encode('{"htm":"GET"}'))}.${s}`;
    assert.equal(await verifies(forged), false);
  });
});

describe("the client", () => {
  test("signs in with a proof and holds DPoP-bound tokens", async () => {
    const server = dpopServer();
    const c = await client(server);
    const tokens = await c.login("alice", "pw");
    assert.equal(tokens.refresh_token, "rt-0");
    const [login] = server.requests;
    assert.equal(login.proof.claims.htm, "POST");
    assert.equal(login.proof.claims.htu, `${BASE}/token`);
    assert.equal(login.proof.claims.ath, undefined);
    assert.equal(login.headers.get("authorization"), null);
  });

  test("presents the access token as DPoP with a proof whose ath matches it", async () => {
    const server = dpopServer();
    const c = await client(server);
    await c.login("alice", "pw");
    const response = await c.fetch("/me?x=1");
    assert.equal(response.status, 200);
    const call = server.requests.at(-1);
    assert.match(call.headers.get("authorization"), /^DPoP at-0\./);
    assert.equal(call.proof.claims.htu, `${BASE}/me`);
    assert.equal(call.proof.claims.ath, await sha256(c.tokens.access_token));
  });

  test("refuses tokens the server did not bind", async () => {
    const c = await client(dpopServer({ bearer: true }));
    await assert.rejects(c.login("alice", "pw"), /unbound_tokens/);
    assert.equal(c.tokens, null);
  });

  test("retries once with the server's nonce, at the token endpoint and at a resource", async () => {
    const server = dpopServer({ nonce: "server-nonce-1" });
    const c = await client(server);
    await c.login("alice", "pw");
    assert.deepEqual(
      server.requests.map((r) => r.proof.claims.nonce),
      [undefined, "server-nonce-1"],
    );
    const fresh = await client(server, { key: c.key });
    fresh._tokens.write(c.tokens);
    assert.equal((await fresh.fetch("/me")).status, 200);
    assert.deepEqual(
      server.requests.slice(2).map((r) => r.proof.claims.nonce),
      [undefined, "server-nonce-1"],
    );
  });

  test("refreshes with a proof by the same key before the token expires, and on a 401", async () => {
    const server = dpopServer();
    let now = 1_000_000;
    const c = await client(server, { now: () => now });
    await c.login("alice", "pw");
    now += 290_000; // within refreshMargin of expiry
    assert.equal((await c.fetch("/me")).status, 200);
    assert.equal(server.rotations, 1);
    server.rotations += 1; // the server rotated elsewhere: this access token is stale
    server.refresh.token = c.tokens.refresh_token;
    assert.equal((await c.fetch("/me")).status, 200);
    assert.equal(server.rotations, 3);
  });

  test("tabs sharing stored tokens refresh once: the second reads what the first stored", async () => {
    const server = dpopServer();
    const store = new Map();
    const storage = {
      getItem: (k) => store.get(k) ?? null,
      setItem: (k, v) => store.set(k, v),
      removeItem: (k) => store.delete(k),
    };
    const key = await DpopKey.load({ store: memoryKeyStore() });
    const locks = new FakeLocks();
    const a = await client(server, { key, storage, locks });
    const b = await client(server, { key, storage, locks });
    await a.login("alice", "pw");
    const [ta, tb] = await Promise.all([a.refresh(), b.refresh()]);
    assert.equal(server.rotations, 1);
    assert.deepEqual(ta, tb);
  });

  test("a refused refresh ends the session and forgets the tokens", async () => {
    const server = dpopServer();
    const ended = [];
    const c = await client(server, { onSignedOut: (why) => ended.push(why) });
    await c.login("alice", "pw");
    server.refresh.token = "someone-else-rotated";
    await assert.rejects(c.refresh(), DpopSessionEndedError);
    assert.equal(c.tokens, null);
    assert.deepEqual(ended, ["ended"]);
    await assert.rejects(c.fetch("/me"), DpopSessionEndedError);
  });
});
