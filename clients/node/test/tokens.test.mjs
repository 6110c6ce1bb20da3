// The token rules, offline: static keys, an injected clock. Every refusal
// has the error kind the Python verifier gives for it (RFC 8725 §3 cases
// from docs/SECURITY: alg none, foreign alg, forbidden headers, typ, kid).
import assert from "node:assert/strict";
import { test } from "node:test";

import { exportJWK, generateKeyPair, SignJWT } from "jose";

import { createVerifier } from "../dist/index.js";

const ISS = "http://127.0.0.1:8000";
const NOW = 1_800_000_000;
const keys = {};
for (const [kid, alg] of [["ed", "EdDSA"], ["ec", "ES256"], ["rsa", "RS256"]]) {
  const pair = await generateKeyPair(alg, { extractable: true, ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}) });
  keys[kid] = { alg, ...pair, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" } };
}
const jwks = { keys: Object.values(keys).map((k) => k.jwk) };

function claims(over = {}) {
  return {
    iss: ISS, sub: "u1", aud: "jwtwarden", exp: NOW + 300, iat: NOW - 1.5, auth_time: NOW - 1.5,
    jti: `j${Math.random()}`, sid: "s1", client_id: "jwtwarden", roles: ["admin"], ...over,
  };
}

async function sign(payload = claims(), { kid = "ed", header = {}, alg } = {}) {
  const key = keys[kid] ?? keys.ed;
  return new SignJWT(payload).setProtectedHeader({ alg: alg ?? key.alg, kid, typ: "at+jwt", ...header }).sign(key.privateKey);
}

function b64(value) {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

let now = NOW;
const verifier = createVerifier({ issuer: ISS, audience: "jwtwarden", revocations: false, jwks, clock: () => now });
await verifier.ready();

async function kindOf(token) {
  try {
    await verifier.verify(token);
    return "accepted";
  } catch (error) {
    return error.kind;
  }
}

test("EdDSA, ES256 and RS256 tokens verify; the claims come back", async () => {
  for (const kid of ["ed", "ec", "rsa"]) {
    const c = await verifier.verify(await sign(claims(), { kid }));
    assert.equal(c.sub, "u1");
    assert.equal(c.authTime, NOW - 1.5);
    assert.deepEqual(c.roles, ["admin"]);
  }
});

test("the fully-specified Ed25519 name is accepted for an OKP key", async () => {
  const token = await sign(claims(), { alg: "Ed25519" });
  assert.equal(await kindOf(token), "accepted");
});

test("integer and fractional NumericDates", async () => {
  assert.equal(await kindOf(await sign(claims({ iat: NOW - 2, auth_time: NOW - 10, exp: NOW + 60 }))), "accepted");
  assert.equal(await kindOf(await sign(claims({ iat: NOW - 0.25, auth_time: NOW - 0.5 }))), "accepted");
});

test("malformed tokens", async () => {
  for (const token of ["", "a.b", "a.b.c.d", "a.b.c", "x".repeat(9000), "e30.e30.", `${b64([])}.${b64({})}.AA`, 42, null]) {
    assert.equal(await kindOf(token), "Malformed", String(token).slice(0, 20));
  }
});

test("alg none in any casing, and self-chosen keys", async () => {
  const body = b64(claims());
  for (const alg of ["none", "None", "NONE", "nOnE"]) {
    assert.equal(await kindOf(`${b64({ alg, kid: "ed", typ: "at+jwt" })}.${body}.AA`), "Malformed");
  }
  // Refused before any signature work, so the signature does not matter.
  const [, , signature] = (await sign()).split(".");
  for (const name of ["jku", "jwk", "x5u", "x5c", "crit"]) {
    const header = b64({ alg: "EdDSA", kid: "ed", typ: "at+jwt", [name]: name === "crit" ? ["exp"] : "x" });
    assert.equal(await kindOf(`${header}.${body}.${signature}`), "Malformed", name);
  }
});

test("typ must be at+jwt", async () => {
  assert.equal(await kindOf(await sign(claims(), { header: { typ: "application/at+jwt" } })), "accepted");
  assert.equal(await kindOf(await sign(claims(), { header: { typ: "JWT" } })), "Claims");
  const noTyp = await new SignJWT(claims()).setProtectedHeader({ alg: "EdDSA", kid: "ed" }).sign(keys.ed.privateKey);
  assert.equal(await kindOf(noTyp), "Claims");
});

test("unknown kid, foreign alg and a bad signature", async () => {
  const unknown = await new SignJWT(claims()).setProtectedHeader({ alg: "EdDSA", kid: "nope", typ: "at+jwt" }).sign(keys.ed.privateKey);
  assert.equal(await kindOf(unknown), "UnknownKey");
  // An ES256 token naming the EdDSA key: the key's family decides, not the header.
  const confused = await new SignJWT(claims()).setProtectedHeader({ alg: "ES256", kid: "ed", typ: "at+jwt" }).sign(keys.ec.privateKey);
  assert.equal(await kindOf(confused), "BadSignature");
  const hs = `${b64({ alg: "HS256", kid: "rsa", typ: "at+jwt" })}.${b64(claims())}.AAAA`;
  assert.equal(await kindOf(hs), "BadSignature");
  const good = await sign();
  const [h, p] = good.split(".");
  assert.equal(await kindOf(`${h}.${p}.${"A".repeat(86)}`), "BadSignature");
  assert.equal(await kindOf(`${h}.${b64(claims({ sub: "root" }))}.${good.split(".")[2]}`), "BadSignature");
});

test("claims: issuer, audience, expiry, future iat, nbf, types", async () => {
  const cases = [
    [{ iss: "http://evil" }, "Claims"],
    [{ iss: ISS + "/" }, "Claims"],
    [{ aud: "other" }, "Claims"],
    [{ aud: ["other", "jwtwarden"] }, "accepted"],
    [{ exp: NOW }, "Expired"],
    [{ exp: NOW - 1 }, "Expired"],
    [{ iat: NOW + 5, auth_time: NOW }, "Claims"],
    [{ auth_time: NOW }, "Claims"],
    [{ nbf: NOW + 5 }, "Claims"],
    [{ nbf: "soon" }, "Claims"],
    [{ exp: "tomorrow" }, "Claims"],
    [{ exp: true }, "Claims"],
    [{ exp: 1e13 }, "Claims"],
    [{ sub: "" }, "Claims"],
    [{ sid: undefined }, "Claims"],
    [{ jti: 5 }, "Claims"],
    [{ roles: "admin" }, "Claims"],
    [{ roles: [1] }, "Claims"],
    [{ client_id: 1 }, "Claims"],
  ];
  for (const [over, kind] of cases) {
    assert.equal(await kindOf(await sign(claims(over))), kind, JSON.stringify(over));
  }
});

test("a token seen before skips the signature but never expiry", async () => {
  const token = await sign(claims({ exp: NOW + 10 }));
  await verifier.verify(token);
  const before = performance.now();
  for (let i = 0; i < 10_000; i++) await verifier.verify(token);
  assert.ok(performance.now() - before < 1000, "10,000 cached verifications well under a second");
  now = NOW + 10;
  try {
    assert.equal(await kindOf(token), "Expired");
  } finally {
    now = NOW;
  }
});

test("a revocation in the view rejects a cached token too", async () => {
  const token = await sign(claims({ sid: "cached-sid" }));
  await verifier.verify(token);
  verifier.view.revokeSession("cached-sid", NOW + 300);
  assert.equal(await kindOf(token), "SessionRevoked");
});

test("a key withdrawn from the set vouches for nothing any more", async () => {
  const local = createVerifier({ issuer: ISS, audience: "jwtwarden", revocations: false, jwks, clock: () => NOW });
  await local.ready();
  const token = await sign(claims(), { kid: "ec" });
  await local.verify(token);
  await local.keys.install({ keys: [keys.ed.jwk] });
  await assert.rejects(local.verify(token), { kind: "UnknownKey" });
});

test("configuration errors", () => {
  assert.throws(() => createVerifier({ issuer: ISS, audience: "jwtwarden" }), { kind: "Configuration" });
  assert.throws(() => createVerifier({ issuer: "", audience: "a", revocations: false }), { kind: "Configuration" });
  assert.throws(() => createVerifier({ issuer: ISS, audience: "a", revocations: false, onStale: "maybe" }), { kind: "Configuration" });
});

test("an unknown kid refetches the JWKS, at most once per interval", async () => {
  let served = [keys.ed.jwk];
  let fetches = 0;
  let t = NOW;
  const fetch = async (url) => {
    const body = url.endsWith("/jwks.json") ? (fetches++, { keys: served }) : { issuer: ISS, jwks_uri: `${ISS}/jwks.json` };
    return new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } });
  };
  const local = createVerifier({ issuer: ISS, audience: "jwtwarden", revocations: false, fetch, clock: () => t, jwksRefetchInterval: 30 });
  await local.ready();
  assert.equal(fetches, 1);
  const rotated = await sign(claims(), { kid: "ec" }); // a key the set does not have yet
  await assert.rejects(local.verify(rotated), { kind: "UnknownKey" });
  assert.equal(fetches, 1, "the start-up fetch is within the interval");
  t += 31;
  served = [keys.ed.jwk, keys.ec.jwk]; // the server published the new key
  assert.equal((await local.verify(rotated)).sub, "u1");
  assert.equal(fetches, 2);
  for (let i = 0; i < 20; i++) {
    await assert.rejects(local.verify(await sign(claims(), { kid: `made-up-${i}` })), { kind: "UnknownKey" });
  }
  assert.equal(fetches, 2, "made-up kids cost no request within the interval");
  await local.close();
});

test("maxLifetime: a token living longer than the issuer's tokens do is refused; unset, exp alone is judged", async () => {
  const bounded = createVerifier({
    issuer: ISS, audience: "jwtwarden", revocations: false, jwks, clock: () => now, maxLifetime: 300,
  });
  await bounded.ready();
  const lasting = (seconds) => sign(claims({ iat: NOW - 2, auth_time: NOW - 10, exp: NOW - 2 + seconds }));
  const kind = async (v, token) => v.verify(token).then(() => "accepted", (error) => error.kind);
  assert.equal(await kind(bounded, await lasting(300)), "accepted");
  for (const seconds of [301, 10 * 365 * 86400]) {
    const token = await lasting(seconds);
    assert.equal(await kind(bounded, token), "Claims");
    assert.equal(await kind(verifier, token), "accepted");
  }
  for (const bad of [0, -1, Number.NaN, Infinity, "300"]) {
    assert.throws(
      () => createVerifier({ issuer: ISS, audience: "jwtwarden", revocations: false, jwks, maxLifetime: bad }),
      /maxLifetime/,
    );
  }
});
