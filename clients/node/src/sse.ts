/**
 * An incremental Server-Sent Events parser, as the WHATWG HTML standard
 * ("Interpreting an event stream") describes it: lines end in CRLF, LF or
 * CR (also when a CRLF is split across chunks); a leading BOM is dropped;
 * `:` lines are comments; `event`, `data`, `id` and `retry` fields; the
 * last event ID persists across events until an `id:` changes it, and an
 * `id` containing NUL is ignored; an event with no data is not dispatched.
 */

export interface SseMessage {
  /** The `event:` field, `"message"` when absent. */
  type: string;
  /** The `data:` lines joined by `\n`. */
  data: string;
  /** The last event ID after this event (what `Last-Event-ID` would send). */
  lastEventId: string;
}

export class SseLimitError extends Error {}

export class SseParser {
  /** The last event ID seen so far (`id:` fields, persisted). */
  lastEventId: string;
  private buffer = "";
  private pendingCR = false;
  private first = true;
  private type = "";
  private data: string[] = [];
  private dataLength = 0;
  private idBuffer: string;

  constructor(
    private readonly onMessage: (message: SseMessage) => void,
    private readonly onRetry: (milliseconds: number) => void = () => {},
    /** Longest line or event data accepted (a snapshot can be large). */
    private readonly maxBytes = 64 * 1024 * 1024,
    lastEventId = "",
  ) {
    this.lastEventId = lastEventId;
    this.idBuffer = lastEventId;
  }

  /** Feed decoded text; complete lines are interpreted at once. */
  push(chunk: string): void {
    if (this.first && chunk.length > 0) {
      this.first = false;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    let start = 0;
    if (this.pendingCR && chunk.startsWith("\n")) start = 1;
    this.pendingCR = false;
    const text = this.buffer + chunk.slice(start);
    let from = 0;
    for (let i = this.buffer.length; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(text.slice(from, i));
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCR = true;
        }
      }
      from = i + 1;
    }
    this.buffer = text.slice(from);
    if (this.buffer.length > this.maxBytes) throw new SseLimitError("line too long");
  }

  private line(line: string): void {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return; // a comment
    const colon = line.indexOf(":");
    let field = line;
    let value = "";
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
    }
    switch (field) {
      case "event":
        this.type = value;
        break;
      case "data":
        this.data.push(value);
        this.dataLength += value.length + 1;
        if (this.dataLength > this.maxBytes) throw new SseLimitError("event too large");
        break;
      case "id":
        if (!value.includes("\0")) this.idBuffer = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.onRetry(Number.parseInt(value, 10));
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(): void {
    this.lastEventId = this.idBuffer;
    if (this.data.length === 0) {
      this.type = "";
      return;
    }
    const message = { type: this.type || "message", data: this.data.join("\n"), lastEventId: this.lastEventId };
    this.type = "";
    this.data = [];
    this.dataLength = 0;
    this.onMessage(message);
  }
}
