// The view and the decision rule: the same cases the Python core tests
// cover for revocation_cause and RevocationView.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FeedDataError, parseEvent, parseSnapshot, RevocationView } from "../dist/index.js";

const NOW = 1_800_000_000;
const token = (over = {}) => ({ sub: "u1", sid: "s1", jti: "j1", authTime: NOW - 100, ...over });
const user = (over = {}) => ({ cutoffAt: null, keepSid: null, bannedUntil: null, ...over });

test("nothing revoked", () => {
  assert.equal(new RevocationView().cause(token(), NOW), null);
});

test("each cause, in the rule's order", () => {
  const view = new RevocationView();
  view.setUser("u1", user({ cutoffAt: NOW - 50 }), NOW + 300);
  assert.equal(view.cause(token(), NOW), "cutoff");
  view.revokeSession("s1", NOW + 300);
  assert.equal(view.cause(token(), NOW), "session", "a revoked sid comes before a cutoff");
  view.denyJti("j1", NOW + 300);
  assert.equal(view.cause(token(), NOW), "denied");
  view.setStoreCutoff(NOW - 10, NOW + 300);
  assert.equal(view.cause(token({ jti: "j2" }), NOW), "cutoff", "the store cutoff before the sid");
});

test("a cutoff is judged by auth_time, strictly, and spares keep_sid", () => {
  const view = new RevocationView();
  view.setUser("u1", user({ cutoffAt: NOW - 100, keepSid: "kept" }), NOW + 300);
  assert.equal(view.cause(token({ authTime: NOW - 100.5 }), NOW), "cutoff");
  assert.equal(view.cause(token({ authTime: NOW - 100 }), NOW), null, "began at the cutoff instant");
  assert.equal(view.cause(token({ authTime: NOW - 101, sid: "kept" }), NOW), null);
  assert.equal(view.cause(token({ authTime: NOW - 101 }), NOW), "cutoff", "integer auth_time");
});

test("a ban is reported while it lasts; its cutoff stays after", () => {
  const view = new RevocationView();
  view.setUser("u1", user({ cutoffAt: NOW - 50, bannedUntil: NOW + 60 }), NOW + 300);
  assert.equal(view.cause(token(), NOW), "banned");
  assert.equal(view.cause(token(), NOW + 60), "cutoff");
  assert.equal(view.cause(token({ authTime: NOW - 10 }), NOW), null, "a login after the ban's cutoff");
});

test("entries are forgotten at forget_at, not before, and a later one extends", () => {
  const view = new RevocationView();
  view.denyJti("j1", NOW + 10);
  view.revokeSession("s1", NOW + 20);
  view.setUser("u9", user({ cutoffAt: NOW }), NOW + 30);
  view.denyJti("j1", NOW + 15);
  assert.equal(view.size, 3);
  assert.equal(view.cause(token(), NOW + 14.9), "denied");
  assert.equal(view.cause(token(), NOW + 15), "session");
  assert.equal(view.size, 2);
  assert.equal(view.forgetExpired(NOW + 30), 2);
  assert.equal(view.size, 0);
  view.setStoreCutoff(NOW + 100, NOW + 40);
  assert.equal(view.cause(token(), NOW + 39), "cutoff");
  assert.equal(view.cause(token(), NOW + 40), null);
});

test("snapshots and events parse from the wire format and apply idempotently", () => {
  const snapshot = parseSnapshot({
    position: "41",
    denied: { j1: NOW + 10 },
    sessions: { s9: NOW + 10 },
    users: { u1: { revocation: { cutoff_at: NOW - 50, keep_sid: null, banned_until: null }, forget_at: NOW + 10 } },
    store_cutoff: null,
    future_member: true,
  });
  const view = new RevocationView();
  view.load(snapshot);
  view.load(snapshot);
  assert.equal(view.size, 3);
  const event = parseEvent({ position: "42", kind: "sid", key: "s1", forget_at: NOW + 10, user: null, cutoff_at: null });
  view.apply(event);
  view.apply(event);
  view.apply({ ...event, kind: "something-new" });
  assert.equal(view.size, 4);
  const unban = parseEvent({
    position: "43", kind: "user", key: "u1", forget_at: NOW + 10,
    user: { cutoff_at: NOW - 200, keep_sid: null, banned_until: null }, cutoff_at: null,
  });
  view.apply(unban);
  assert.equal(view.cause(token({ jti: "x", sid: "y" }), NOW), null, "a user event replaces the whole state");
});

test("malformed feed data is refused, not half-applied", () => {
  assert.throws(() => parseSnapshot({ denied: {}, sessions: { s: "soon" }, users: {} }), FeedDataError);
  assert.throws(() => parseSnapshot([]), FeedDataError);
  assert.throws(() => parseEvent({ position: 1, kind: "sid", key: "s", forget_at: NOW }), FeedDataError);
  assert.throws(() => parseEvent({ position: "1", kind: "sid", key: "s", forget_at: null }), FeedDataError);
  assert.throws(() => parseEvent({ position: "1", kind: "user", key: "s", forget_at: NOW, user: { cutoff_at: "x" } }), FeedDataError);
});
