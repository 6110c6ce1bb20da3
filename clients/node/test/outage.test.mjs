// What the verifier does when the feed goes away: a server restart is
// survived without losing a revocation made while it was down, a silent
// feed fails closed (or open, as configured), and bad credentials are
// stale at once (a 503 for the caller, never a 401).
import assert from "node:assert/strict";
import { test } from "node:test";

import { createVerifier } from "../dist/index.js";
import { rejectedWithin, sleep, startServer } from "./support/server.mjs";

test("a server restart: a revocation made while it was down still arrives", async () => {
  const server = await startServer();
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
    await server.stop();
  }
});

test("a silent feed fails closed, or open when configured", async () => {
  const server = await startServer();
  // Heartbeats come every 2 s: a bound must leave room for one.
  const closed = await server.verifier({ maxStaleness: 3 });
  const opened = await server.verifier({ maxStaleness: 3, onStale: "allow" });
  const decided = [];
  const custom = await server.verifier({ maxStaleness: 3, onStale: (s) => (decided.push(s), "reject") });
  try {
    const token = (await server.login()).access_token;
    for (const v of [closed, opened, custom]) await v.verify(token);
    assert.ok(closed.isFresh());
    await server.stop();
    await rejectedWithin(closed, token, "StaleRevocations", 8);
    assert.equal(closed.isFresh(), false);
    const error = await closed.verify(token).catch((e) => e);
    assert.ok(error.retryAfter >= 1);
    assert.ok((await opened.verify(token)).sub, 'onStale: "allow" judges by the view as it is');
    await rejectedWithin(custom, token, "StaleRevocations", 8);
    assert.ok(decided.length > 0 && decided.every((s) => s > 3));
    // A malformed token is still a bad token (401), not a stale one.
    await assert.rejects(closed.verify("not.a.token"), { kind: "Malformed" });
  } finally {
    await Promise.all([closed.close(), opened.close(), custom.close()]);
    await server.stop();
  }
});

test("wrong feed credentials are stale at once, and the feed keeps trying", async () => {
  const server = await startServer();
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
    await server.stop();
  }
});

test("before its first snapshot a verifier fails closed", async () => {
  const server = await startServer();
  const { clientId, clientSecret } = server.client();
  await server.stop();
  const verifier = createVerifier({ issuer: server.url, audience: "jwtwarden", clientId, clientSecret });
  try {
    await assert.rejects(verifier.ready(300), /not ready/);
    await assert.rejects(verifier.verify("a.b.c"), { kind: "Malformed" });
    assert.equal(verifier.isFresh(), false);
  } finally {
    await verifier.close();
  }
});
