// The SSE parser against the WHATWG "Interpreting an event stream" rules.
import assert from "node:assert/strict";
import { test } from "node:test";

import { SseParser } from "../dist/index.js";

function parse(chunks, lastEventId = "") {
  const events = [];
  const retries = [];
  const parser = new SseParser((m) => events.push(m), (ms) => retries.push(ms), 1024, lastEventId);
  for (const chunk of chunks) parser.push(chunk);
  return { events, retries, parser };
}

test("LF, CRLF and CR line ends, also split across chunks", () => {
  const text = "event: a\ndata: 1\n\nevent: b\r\ndata: 2\r\n\r\nevent: c\rdata: 3\r\r";
  const whole = parse([text]).events;
  assert.deepEqual(whole.map((e) => [e.type, e.data]), [["a", "1"], ["b", "2"], ["c", "3"]]);
  // Every split point, CRLF split between chunks included.
  for (let i = 1; i < text.length; i++) {
    assert.deepEqual(parse([text.slice(0, i), text.slice(i)]).events, whole, `split at ${i}`);
  }
});

test("comments, a BOM, unknown fields and a field without a colon", () => {
  const { events } = parse(["\uFEFF: hello\nfoo: bar\ndata\ndata:x\n\n"]);
  assert.deepEqual(events, [{ type: "message", data: "\nx", lastEventId: "" }]);
});

test("only one space after the colon is dropped; data lines join with LF", () => {
  const { events } = parse(["data:  two\ndata:none\n\n"]);
  assert.equal(events[0].data, " two\nnone");
});

test("the last event id persists, and an id with NUL is ignored", () => {
  const { events, parser } = parse(["id: 7\ndata: a\n\ndata: b\n\nid: 8\0\ndata: c\n\nid\ndata: d\n\n"], "3");
  assert.deepEqual(events.map((e) => e.lastEventId), ["7", "7", "7", ""]);
  assert.equal(parser.lastEventId, "");
});

test("an event without data is not dispatched, but its id counts", () => {
  const { events, parser } = parse(["id: 9\nevent: x\n\n"]);
  assert.deepEqual(events, []);
  assert.equal(parser.lastEventId, "9");
});

test("retry takes ASCII digits only", () => {
  assert.deepEqual(parse(["retry: 1500\nretry: 1.5\nretry: x\n\n"]).retries, [1500]);
});

test("an over-long line or event is refused", () => {
  assert.throws(() => parse(["data: " + "x".repeat(2000)]), /too long/);
  assert.throws(() => parse([("data: " + "x".repeat(600) + "\n").repeat(2)]), /too large/);
});
