// What the verifier does when the feed goes away: a server restart is
// survived without losing a revocation made while it was down, a silent
// feed fails closed (or open, as configured), bad credentials are stale at
// once (a 503 for the caller, never a 401), and a verifier that never got
// a snapshot fails closed. One server, stopped and started as needed.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createVerifier } from "../dist/index.js";
import { rejectedWithin, sleep, startServer } from "./support/server.mjs";

let server;
let token; // a good token, kept for when the server is down

before(async () => {
  server = await startServer();
});

after(() => server?.stop());

test("a server restart: a revocation made while it was down still arrives", async () => {
  const verifier = await server.verifier({ maxStaleness: 60, maxReconnectDelay: 500 });
  try {
    const a = await server.login();
    const { sid } = await verifier.verify(a.access_token);
    await server.stop();
    server.cli(["sessions", "revoke", sid]); // straight on the store
    await server.start(); // same port, same store
    assert.ok((await rejectedWithin(verifier, a.access_token, "SessionRevoked", 10)) < 10);
    assert.ok(verifier.feed.connections >= 2);
  } finally {
    await verifier.close();
  }
});

test("wrong feed credentials are stale at once, and the feed keeps trying", async () => {
  const errors = [];
  const verifier = createVerifier({
    issuer: server.url,
    audience: "jwtwarden",
    clientId: "rs_nobody",
    clientSecret: "wrong",
    maxStaleness: 30,
    reconnectDelay: 50,
    onError: (e) => errors.push(e),
  });
  try {
    const token = (await server.login()).access_token;
    await rejectedWithin(verifier, token, "StaleRevocations", 5);
    while (errors.filter((e) => e.status === 401).length < 2) await sleep(20);
    assert.equal(verifier.feed.connections, 0);
    assert.equal(verifier.feed.lastError.status, 401);
  } finally {
    await verifier.close();
  }
});

test("a silent feed fails closed, or open when configured", async () => {
  // Heartbeats come every 2 s: a bound must leave room for one.
  const closed = await server.verifier({ maxStaleness: 3 });
  const opened = await server.verifier({ maxStaleness: 3, onStale: "allow" });
  const decided = [];
  const custom = await server.verifier({ maxStaleness: 3, onStale: (s) => (decided.push(s), "reject") });
  try {
    token = (await server.login()).access_token;
    for (const v of [closed, opened, custom]) await v.verify(token);
    assert.ok(closed.isFresh());
    await server.stop();
    await rejectedWithin(closed, token, "StaleRevocations", 8);
    assert.equal(closed.isFresh(), false);
    const error = await closed.verify(token).catch((e) => e);
    assert.ok(error.retryAfter >= 1);
    while (opened.isFresh()) await sleep(20); // it started a little later
    const accepted = opened.staleAcceptances;
    assert.ok((await opened.verify(token)).sub, 'onStale: "allow" judges by the view as it is');
    assert.equal(opened.staleAcceptances, accepted + 1, "and counts what it let through");
    await rejectedWithin(custom, token, "StaleRevocations", 8);
    assert.ok(decided.length > 0 && decided.every((s) => s > 3));
    // A malformed token is still a bad token (401), not a stale one.
    await assert.rejects(closed.verify("not.a.token"), { kind: "Malformed" });
  } finally {
    await Promise.all([closed.close(), opened.close(), custom.close()]);
  }
});

test("before its first snapshot a verifier fails closed", async () => {
  // The server is down since the previous test.
  const verifier = createVerifier({ issuer: server.url, audience: "jwtwarden", clientId: "rs_x", clientSecret: "x" });
  try {
    await assert.rejects(verifier.ready(300), /not ready/);
    await assert.rejects(verifier.verify("a.b.c"), { kind: "Malformed" });
    // A good token: no keys and no revocations yet, so 503, not 401.
    await assert.rejects(verifier.verify(token), { kind: "StaleRevocations" });
    assert.equal(verifier.isFresh(), false);
    assert.equal(verifier.staleness(), Number.POSITIVE_INFINITY);
  } finally {
    await verifier.close();
  }
});
