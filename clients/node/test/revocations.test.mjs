// Each kind of revocation made through the server's API reaches a Node
// verifier through /revocations, well within the feed bound, as the Python
// verifier's e2e tests (tests/e2e/test_feed.py) check for it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { rejectedWithin, startServer } from "./support/server.mjs";

// Strict rotation, so a second use of a refresh token is reuse at once.
let server, verifier, root;
const BOUND = 2; // seconds: the verifier's feed bound in these tests

before(async () => {
  server = await startServer({ JWTWARDEN_REFRESH_GRACE: "0" });
  verifier = await server.verifier({ maxStaleness: 10 });
  root = (await server.login("root")).access_token;
});

after(async () => {
  await verifier?.close();
  await server?.stop();
});

test("a logged-out session is rejected", async () => {
  const a = await server.login();
  const b = await server.login();
  await verifier.verify(a.access_token);
  assert.equal(await server.post("/logout", { token: a.access_token }), 204);
  assert.ok((await rejectedWithin(verifier, a.access_token, "SessionRevoked")) < BOUND);
  assert.equal((await verifier.verify(b.access_token)).sub.length > 0, true, "other sessions live on");
});

test("a revoked access token is denied", async () => {
  const a = await server.login();
  await verifier.verify(a.access_token);
  assert.equal(await server.post("/revoke", { form: { token: a.access_token } }), 200);
  assert.ok((await rejectedWithin(verifier, a.access_token, "TokenDenied")) < BOUND);
});

test("logout-all cuts every session, or every other one with keep_current", async () => {
  const [a, b, c] = [await server.login(), await server.login(), await server.login()];
  for (const t of [a, b, c]) await verifier.verify(t.access_token);
  assert.equal(await server.post("/logout/all?keep_current=true", { token: a.access_token }), 204);
  assert.ok((await rejectedWithin(verifier, b.access_token, "UserCutoff")) < BOUND);
  await assert.rejects(verifier.verify(c.access_token), { kind: "UserCutoff" });
  await verifier.verify(a.access_token); // the kept session
  assert.equal(await server.post("/logout/all", { token: a.access_token }), 204);
  assert.ok((await rejectedWithin(verifier, a.access_token, "UserCutoff")) < BOUND);
});

test("a ban rejects the user's tokens while it lasts, and older tokens after", async () => {
  const a = await server.login();
  const { sub } = await verifier.verify(a.access_token);
  const status = await server.post(`/admin/users/${sub}/ban`, { token: root, json: { until: "2099-01-01T00:00:00Z" } });
  assert.equal(status, 204);
  assert.ok((await rejectedWithin(verifier, a.access_token, "UserBanned")) < BOUND);
  assert.equal(await server.post(`/admin/users/${sub}/ban`, { token: root, method: "DELETE" }), 204);
  assert.ok((await rejectedWithin(verifier, a.access_token, "UserCutoff")) < BOUND);
  await new Promise((r) => setTimeout(r, 10)); // a login strictly after the cutoff
  await verifier.verify((await server.login()).access_token);
});

test("a role change kills the tokens carrying the old roles", async () => {
  const a = await server.login();
  const { sub, roles } = await verifier.verify(a.access_token);
  assert.deepEqual(roles, []);
  assert.equal(await server.post(`/admin/users/${sub}/roles`, { token: root, method: "PUT", json: { roles: ["editor"] } }), 204);
  assert.ok((await rejectedWithin(verifier, a.access_token, "UserCutoff")) < BOUND);
  await new Promise((r) => setTimeout(r, 10));
  const fresh = await verifier.verify((await server.login()).access_token);
  assert.deepEqual(fresh.roles, ["editor"]);
  await server.post(`/admin/users/${sub}/roles`, { token: root, method: "PUT", json: { roles: [] } });
});

test("reuse of a spent refresh token revokes the session everywhere", async () => {
  const a = await server.login();
  const refreshed = await fetch(`${server.url}/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: a.refresh_token }),
  }).then((r) => r.json());
  await verifier.verify(refreshed.access_token);
  const replay = await fetch(`${server.url}/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: a.refresh_token }),
  });
  assert.equal(replay.status, 400);
  assert.equal((await replay.json()).error, "invalid_grant");
  assert.ok((await rejectedWithin(verifier, refreshed.access_token, "SessionRevoked")) < BOUND);
  await assert.rejects(verifier.verify(a.access_token), { kind: "SessionRevoked" });
});

test("the feed dropped and resumed misses nothing and needs no new snapshot", async () => {
  const feed = verifier.feed;
  const [connections, snapshots] = [feed.connections, feed.snapshots];
  const a = await server.login();
  await verifier.verify(a.access_token);
  feed.disconnect();
  assert.equal(await server.post("/logout", { token: a.access_token }), 204);
  assert.ok((await rejectedWithin(verifier, a.access_token, "SessionRevoked", 5)) < 5);
  assert.ok(feed.connections > connections, "reconnected");
  assert.equal(feed.snapshots, snapshots, "resumed from Last-Event-ID, not from a new snapshot");
});

test("a token seen before is still checked for revocation and staleness", async () => {
  const a = await server.login();
  await verifier.verify(a.access_token);
  await verifier.verify(a.access_token); // cached now
  await server.post("/revoke", { form: { token: a.access_token } });
  await rejectedWithin(verifier, a.access_token, "TokenDenied");
});
