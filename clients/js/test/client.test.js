import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import { createClient, RefreshFailedError, SessionEndedError, withLock } from "../jwtwarden.js";
import { FakeLocks, fakeServer } from "./support/fakes.js";

const opened = [];
let channelName = 0;

/** A tab: its own client, sharing the server's cookie jar, the lock
 * manager and the BroadcastChannel name with its siblings. */
function tab(server, extra = {}) {
  const events = [];
  const client = createClient({
    fetch: server.fetch,
    locks: null,
    BroadcastChannel: null,
    cookies: () => "",
    retryDelay: 1,
    lockTimeout: 200,
    onSignedOut: (reason) => events.push(`signed-out:${reason}`),
    onTheft: () => events.push("theft"),
    onSignedIn: () => events.push("signed-in"),
    onRefreshed: () => events.push("refreshed"),
    ...extra,
  });
  opened.push(client);
  return { client, events };
}

function shared() {
  channelName += 1;
  return { locks: new FakeLocks(), BroadcastChannel, channelName: `test-${channelName}` };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

afterEach(() => {
  for (const c of opened.splice(0)) c.close();
});

describe("the fetch wrapper", () => {
  test("adds the CSRF header to unsafe methods only, and always sends credentials", async () => {
    const server = fakeServer();
    const { client } = tab(server, { baseUrl: "https://auth.example.test/" });
    await client.login("alice", "pw");
    await client.fetch("/sessions");
    await client.fetch("/logout/all", { method: "POST" });
    const [, get, post] = server.requests;
    assert.equal(get.url, "https://auth.example.test/sessions");
    assert.equal(get.headers.get("x-csrf-token"), null);
    assert.equal(post.headers.get("x-csrf-token"), "csrf-token-1");
    assert.ok(server.requests.every((r) => r.credentials === "include"));
  });

  test("reads the CSRF token from the page's cookie when it can", async () => {
    const server = fakeServer();
    server.csrf = "from-cookie";
    const { client } = tab(server, { cookies: () => "a=b; jwtwarden-csrf=from-cookie" });
    await client.fetch("/password", { method: "POST" });
    assert.equal(server.requests[0].headers.get("x-csrf-token"), "from-cookie");
  });

  test("on a 401 it refreshes once and retries the request once", async () => {
    const server = fakeServer();
    const { client } = tab(server);
    await client.login("alice", "pw");
    server.accessValid = false;
    const response = await client.fetch("/me");
    assert.equal(response.status, 200);
    assert.deepEqual(
      server.requests.map((r) => r.pathname),
      ["/session/login", "/me", "/session/refresh", "/me"],
    );
  });

  test("a 401 that survives the refresh is returned, with no loop", async () => {
    const server = fakeServer();
    const { client } = tab(server);
    await client.login("alice", "pw");
    const original = server.refresh;
    server.refresh = async (...args) => {
      const answer = await original(...args);
      server.accessValid = false; // e.g. a cutoff the token still falls under
      return answer;
    };
    server.accessValid = false;
    const response = await client.fetch("/me");
    assert.equal(response.status, 401);
    assert.equal(server.refreshes(), 1);
  });

  test("refreshes before a request when the access token is about to expire", async () => {
    let now = 1_000_000;
    const server = fakeServer({ ttl: 300 });
    const { client } = tab(server, { now: () => now, refreshMargin: 30 });
    await client.login("alice", "pw");
    now += 200_000;
    await client.fetch("/me");
    assert.equal(server.refreshes(), 0);
    now += 75_000; // 25 s left: inside the margin
    await client.fetch("/me");
    assert.deepEqual(server.requests.slice(-2).map((r) => r.pathname), ["/session/refresh", "/me"]);
    assert.equal(client.expiresAt, now + 300_000);
  });

  test("a short-lived token refreshes in its last quarter, not 30 s early", async () => {
    let now = 0;
    const server = fakeServer({ ttl: 4 });
    const { client } = tab(server, { now: () => now });
    await client.login("alice", "pw");
    now = 2_000;
    await client.fetch("/me");
    assert.equal(server.refreshes(), 0);
    now = 3_100;
    await client.fetch("/me");
    assert.equal(server.refreshes(), 1);
  });

  test("without a known CSRF token it asks GET /session first (a front end on another origin)", async () => {
    const server = fakeServer();
    await tab(server).client.login("alice", "pw");
    const { client } = tab(server); // a new tab: nothing known
    server.accessValid = false;
    assert.equal((await client.fetch("/me")).status, 200);
    assert.deepEqual(
      server.requests.slice(1).map((r) => r.pathname),
      ["/me", "/session", "/session/refresh", "/me"],
    );
  });
});

describe("refresh outcomes", () => {
  test("a lost refresh response does not sign anyone out: the retry gets the same child", async () => {
    const server = fakeServer();
    const { client, events } = tab(server);
    await client.login("alice", "pw");
    server.dropAfterRotation = 1;
    assert.equal(await client.refresh(), "refreshed");
    assert.equal(server.rotations, 1);
    assert.equal(server.refreshes(), 2);
    assert.equal(server.ended, null);
    assert.deepEqual(events, ["refreshed"]);
  });

  test("a server that cannot be reached is an error, not a sign-out", async () => {
    const server = fakeServer();
    const { client, events } = tab(server, { retries: 2 });
    await client.login("alice", "pw");
    server.unavailable = 3;
    await assert.rejects(client.refresh(), RefreshFailedError);
    assert.equal(server.refreshes(), 3);
    assert.deepEqual(events, []);
    assert.equal(await client.refresh(), "refreshed");
  });

  test("a refused refresh ends the session once: onSignedOut('ended')", async () => {
    const server = fakeServer();
    const { client, events } = tab(server);
    await client.login("alice", "pw");
    server.ended = "expired";
    await assert.rejects(client.refresh(), (e) => e instanceof SessionEndedError && e.reason === "ended");
    server.accessValid = false;
    assert.equal((await client.fetch("/me")).status, 401);
    assert.deepEqual(events, ["signed-out:ended"]);
    assert.equal(client.expiresAt, null);
  });

  test("reuse detection is its own event: onTheft, then onSignedOut('theft')", async () => {
    const server = fakeServer();
    const { client, events } = tab(server);
    await client.login("alice", "pw");
    server.ended = "reuse";
    await assert.rejects(client.refresh(), (e) => e.reason === "theft");
    assert.deepEqual(events, ["theft", "signed-out:theft"]);
  });

  test("without the grace window a lost response would have been reuse (the fake is honest)", async () => {
    const server = fakeServer({ grace: false });
    const { client } = tab(server);
    await client.login("alice", "pw");
    server.dropAfterRotation = 1;
    await assert.rejects(client.refresh(), (e) => e.reason === "theft");
  });
});

describe("across tabs", () => {
  test("four tabs needing a refresh at once: one refresh request, every tab refreshed", async () => {
    const server = fakeServer();
    const common = shared();
    const tabs = [0, 1, 2, 3].map(() => tab(server, common));
    await tabs[0].client.login("alice", "pw");
    await settle();
    server.accessValid = false;
    const responses = await Promise.all(tabs.map((t) => t.client.fetch("/me")));
    assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200]);
    // One rotation. The lock can reach a waiting tab before the first
    // tab's announcement does (both are messages); the client yields to the
    // event loop once it holds the lock, so a delivered announcement is
    // read first (without that yield: 10 failures in 15 runs with both
    // cores busy; with it, none in 40). A steal after lockTimeout may still
    // send a second request, which the grace window answers with the same
    // child: a request more, not a rotation more.
    assert.ok(server.refreshes() <= 2, `refresh requests: ${server.refreshes()}`);
    assert.equal(server.rotations, 1);
    for (const t of tabs) assert.ok(!t.events.some((e) => e.startsWith("signed-out")));
  });

  test("without Web Locks or BroadcastChannel, four tabs refresh together and all stay signed in (grace window)", async () => {
    const server = fakeServer();
    const tabs = [0, 1, 2, 3].map(() => tab(server));
    await tabs[0].client.login("alice", "pw");
    for (const t of tabs.slice(1)) await t.client.session();
    const outcomes = await Promise.all(tabs.map((t) => t.client.refresh()));
    assert.deepEqual(outcomes, ["refreshed", "refreshed", "refreshed", "refreshed"]);
    assert.equal(server.rotations, 1);
    assert.equal(server.ended, null);
  });

  test("with Web Locks but no BroadcastChannel the tabs take turns, none is signed out", async () => {
    const server = fakeServer();
    const locks = new FakeLocks();
    const tabs = [0, 1, 2].map(() => tab(server, { locks }));
    await tabs[0].client.login("alice", "pw");
    for (const t of tabs.slice(1)) await t.client.session();
    await Promise.all(tabs.map((t) => t.client.refresh()));
    assert.equal(server.ended, null);
    assert.equal(server.refreshes(), 3);
  });

  test("a lock some tab never releases is stolen after lockTimeout", async () => {
    const server = fakeServer();
    const locks = new FakeLocks();
    locks.hang("jwtwarden-refresh");
    const { client } = tab(server, { locks, lockTimeout: 50 });
    await client.login("alice", "pw");
    const started = Date.now();
    assert.equal(await client.refresh(), "refreshed");
    assert.ok(Date.now() - started >= 45);
    assert.equal(server.rotations, 1);
  });

  test("a tab whose lock is stolen still gets its own refresh's outcome", async () => {
    const locks = new FakeLocks();
    let release;
    const slow = withLock(locks, "l", 1000, () => new Promise((resolve) => (release = resolve)));
    await settle();
    const thief = withLock(locks, "l", 10, async () => "thief");
    assert.equal(await thief, "thief");
    release("holder");
    assert.equal(await slow, "holder");
  });

  test("sign-out in one tab reaches every tab", async () => {
    const server = fakeServer();
    const common = shared();
    const [a, b, c] = [0, 1, 2].map(() => tab(server, common));
    await a.client.login("alice", "pw");
    await settle();
    assert.deepEqual(b.events, ["signed-in"]);
    await a.client.logout();
    await settle();
    for (const t of [a, b, c]) assert.ok(t.events.includes("signed-out:signed-out"), t.events.join());
    assert.equal(b.client.expiresAt, null);
  });

  test("theft seen by one tab is theft in every tab", async () => {
    const server = fakeServer();
    const common = shared();
    const [a, b] = [0, 1].map(() => tab(server, common));
    await a.client.login("alice", "pw");
    server.ended = "reuse";
    await assert.rejects(a.client.refresh());
    await settle();
    assert.deepEqual(b.events.filter((e) => e !== "signed-in"), ["theft", "signed-out:theft"]);
  });

  test("messages that are not the client's are ignored", async () => {
    const server = fakeServer();
    const common = shared();
    const { events } = tab(server, common);
    const stranger = new BroadcastChannel(common.channelName);
    stranger.postMessage("hello");
    stranger.postMessage({ type: "ended", reason: "<img src=x>" });
    stranger.postMessage(null);
    await settle();
    stranger.close();
    assert.deepEqual(events, []);
  });
});
