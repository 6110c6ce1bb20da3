// The feed client's connection rules with a scripted in-process server (a
// fake fetch): Basic credentials form-encoded, Last-Event-ID = the last
// event applied, retry:, capped exponential backoff with jitter, the idle
// timeout, and a malformed event never half-applied.
import assert from "node:assert/strict";
import { test } from "node:test";

import { RevocationFeed } from "../dist/index.js";

const LATER = Date.now() / 1000 + 300;
const encoder = new TextEncoder();

/** A fetch whose n-th call is answered by `script[n](request)`. */
function scripted(script) {
  const calls = [];
  const fetch = async (url, init) => {
    const call = { at: performance.now(), headers: init.headers, signal: init.signal };
    calls.push(call);
    const answer = script[Math.min(calls.length - 1, script.length - 1)];
    return answer(call);
  };
  return { fetch, calls };
}

function stream(text, { hold = false } = {}) {
  return (call) => {
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(encoder.encode(text));
        if (!hold) controller.close();
        call.signal.addEventListener("abort", () => controller.error(call.signal.reason));
      },
    });
    return new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } });
  };
}

const status = (code) => () => new Response("{}", { status: code });
const snapshot = (id, denied = {}) =>
  `event: snapshot\nid: ${id}\ndata: ${JSON.stringify({ position: id, denied, sessions: {}, users: {}, store_cutoff: null })}\n\n`;
const revocation = (id, jti) =>
  `event: revocation\nid: ${id}\ndata: ${JSON.stringify({ position: id, kind: "jti", key: jti, forget_at: LATER, user: null, cutoff_at: null })}\n\n`;
const heartbeat = (id) => `event: heartbeat\ndata: {"position":"${id}","fresh":true}\n\n`;
const facts = (jti) => ({ sub: "u", sid: "s", jti, authTime: 0 });

async function until(predicate, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("credentials are HTTP Basic, form-encoded; Last-Event-ID is the last event applied", async () => {
  const { fetch, calls } = scripted([
    stream(snapshot("10") + heartbeat("10") + revocation("11", "j1") + heartbeat("11")),
    stream(revocation("12", "j2") + heartbeat("12"), { hold: true }),
  ]);
  const feed = new RevocationFeed({ url: "http://feed/revocations", clientId: "rs_1", clientSecret: "a b+c", fetch, reconnectDelay: 10 }).start();
  try {
    await until(() => feed.view.cause(facts("j2"), 0) === "denied");
    assert.equal(calls[0].headers.authorization, `Basic ${Buffer.from("rs_1:a+b%2Bc").toString("base64")}`);
    assert.equal(calls[0].headers["last-event-id"], undefined);
    assert.equal(calls[1].headers["last-event-id"], "11");
    assert.equal(feed.position, "12");
    assert.equal(feed.snapshots, 1);
    assert.ok(feed.staleness() < 1);
  } finally {
    await feed.stop();
  }
});

test("a malformed event is not applied and its position not kept", async () => {
  const bad = `event: revocation\nid: 12\ndata: {"position":"12","kind":"jti","key":"j9","forget_at":"soon"}\n\n`;
  const { fetch, calls } = scripted([
    stream(snapshot("10") + revocation("11", "j1") + bad + revocation("13", "j3")),
    stream(heartbeat("11"), { hold: true }),
  ]);
  const errors = [];
  const feed = new RevocationFeed({ url: "http://feed/r", clientId: "a", clientSecret: "b", fetch, reconnectDelay: 10, onError: (e) => errors.push(e) }).start();
  try {
    await until(() => calls.length >= 2);
    assert.equal(calls[1].headers["last-event-id"], "11", "resumes after the last good event");
    assert.equal(feed.view.cause(facts("j3"), 0), null, "nothing after the bad event was applied");
    assert.match(errors[0].message, /malformed/);
  } finally {
    await feed.stop();
  }
});

test("failures back off exponentially, capped, with jitter; retry: sets the base", async () => {
  const { fetch, calls } = scripted([status(500)]);
  const feed = new RevocationFeed({ url: "http://feed/r", clientId: "a", clientSecret: "b", fetch, reconnectDelay: 20, maxReconnectDelay: 160 }).start();
  try {
    await until(() => calls.length >= 7, 5000);
  } finally {
    await feed.stop();
  }
  const gaps = calls.slice(1).map((c, i) => c.at - calls[i].at);
  const ceilings = [40, 80, 160, 160, 160, 160]; // after failures 1, 2, 3, …
  gaps.slice(0, 6).forEach((gap, i) => {
    assert.ok(gap >= ceilings[i] / 2 - 5 && gap <= ceilings[i] + 200, `gap ${i}: ${gap.toFixed(1)} ms, ceiling ${ceilings[i]}`);
  });
  assert.equal(feed.lastError.status, 500);

  const retried = scripted([stream("retry: 300\n\n" + snapshot("1")), status(500)]);
  const other = new RevocationFeed({ url: "http://feed/r", clientId: "a", clientSecret: "b", fetch: retried.fetch, reconnectDelay: 10 }).start();
  try {
    await until(() => retried.calls.length >= 2, 3000);
    assert.equal(other.serverRetry, 300);
    const gap = retried.calls[1].at - retried.calls[0].at;
    assert.ok(gap >= 150, `waited ${gap.toFixed(0)} ms after retry: 300`);
  } finally {
    await other.stop();
  }
});

test("a stream silent past the idle timeout is dropped and resumed", async () => {
  const { fetch, calls } = scripted([stream(snapshot("5"), { hold: true }), stream(heartbeat("5"), { hold: true })]);
  const feed = new RevocationFeed({ url: "http://feed/r", clientId: "a", clientSecret: "b", fetch, reconnectDelay: 10, idleTimeout: 100 }).start();
  try {
    await until(() => calls.length >= 2);
    assert.equal(calls[1].headers["last-event-id"], "5");
    assert.match(feed.lastError.message, /silent/);
  } finally {
    await feed.stop();
  }
});

test("401 and 403 make the view stale at once", async () => {
  for (const code of [401, 403]) {
    const { fetch, calls } = scripted([stream(snapshot("1") + heartbeat("1")), status(code)]);
    const feed = new RevocationFeed({ url: "http://feed/r", clientId: "a", clientSecret: "b", fetch, reconnectDelay: 10 }).start();
    try {
      await until(() => calls.length >= 2 && feed.lastError?.status === code);
      assert.equal(feed.staleness(), Number.POSITIVE_INFINITY);
    } finally {
      await feed.stop();
    }
  }
});

test("discovery: the feed named in the metadata, else <issuer>/revocations; the issuer must match", async () => {
  const { createVerifier } = await import("../dist/index.js");
  const ISS = "http://auth.test";
  const seen = [];
  const server = (meta) => async (url, init) => {
    seen.push(url);
    if (url.endsWith("/.well-known/oauth-authorization-server")) return Response.json(meta);
    if (url.endsWith("/jwks.json")) return Response.json({ keys: [] });
    return stream(snapshot("1") + heartbeat("1"), { hold: true })({ signal: init.signal });
  };
  const named = createVerifier({
    issuer: ISS, audience: "a", clientId: "c", clientSecret: "s",
    fetch: server({ issuer: ISS, jwks_uri: `${ISS}/jwks.json`, jwtwarden_revocations_endpoint: `${ISS}/feeds/v1` }),
  });
  await named.ready();
  assert.equal(named.feed.url, `${ISS}/feeds/v1`);
  await named.close();
  const fallback = createVerifier({
    issuer: `${ISS}/`, audience: "a", clientId: "c", clientSecret: "s",
    fetch: server({ issuer: `${ISS}/`, jwks_uri: `${ISS}/jwks.json` }),
  });
  await fallback.ready();
  assert.equal(fallback.feed.url, `${ISS}/revocations`);
  assert.ok(fallback.isFresh());
  await fallback.close();
  const errors = [];
  const impostor = createVerifier({
    issuer: ISS, audience: "a", clientId: "c", clientSecret: "s", onError: (e) => errors.push(e),
    fetch: server({ issuer: "http://evil.test", jwks_uri: "http://evil.test/jwks.json" }),
  });
  await assert.rejects(impostor.ready(300), /not ready/);
  assert.equal(errors[0].kind, "Configuration");
  await impostor.close();
});
