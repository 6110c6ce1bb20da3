/**
 * RevocationFeed: follow a jwtwarden server's `GET /revocations` stream
 * (docs/feed-protocol.md) into a RevocationView.
 *
 * The stream starts with a `snapshot` of every revocation that can still
 * matter, then one `revocation` event per change (`id:` = its position), and
 * a `heartbeat` at least every couple of seconds. The feed reconnects by
 * itself with `Last-Event-ID` = the position of the last event it applied,
 * so nothing made while it was away is lost (a server that no longer has
 * that position sends a fresh snapshot instead). Reconnection waits follow
 * a capped exponential backoff with jitter, starting from the server's
 * `retry:` when it sent one.
 *
 * `staleness()` is the time since the server last confirmed the view is
 * current (a heartbeat with `fresh: true`). An authentication failure
 * (401/403) makes the view stale at once: the credentials are wrong or
 * withdrawn, and waiting will not bring revocations back.
 */

import { SseParser, type SseMessage } from "./sse.js";
import { FeedDataError, parseEvent, parseSnapshot, RevocationView } from "./view.js";

export type Clock = () => number;
export type Fetch = typeof fetch;

export interface FeedOptions {
  url: string;
  clientId: string;
  clientSecret: string;
  view?: RevocationView;
  /** Seconds since the epoch; the feed's freshness is measured with it. */
  clock?: Clock;
  /** First reconnection delay (ms) until the server sends `retry:`. */
  reconnectDelay?: number;
  /** Longest reconnection delay (ms). */
  maxReconnectDelay?: number;
  /** Reconnect when the stream has been silent this long (ms); heartbeats
   * come every ~2 s, so a silent stream is a dead one. */
  idleTimeout?: number;
  fetch?: Fetch;
  /** Told about every failed connection (for logs and metrics). */
  onError?: (error: Error) => void;
}

/** A non-200 answer of the feed endpoint. */
export class FeedStatusError extends Error {
  constructor(readonly status: number) {
    super(`revocation feed answered ${status}`);
  }
}

export class RevocationFeed {
  readonly url: string;
  readonly view: RevocationView;
  /** The position of the last event applied; `Last-Event-ID` on reconnect. */
  position: string | null = null;
  /** When the server last said the view is current (clock seconds). */
  freshAt = Number.NEGATIVE_INFINITY;
  /** How many times the stream has been (re)connected. */
  connections = 0;
  /** How many snapshots were loaded (1 + each time the client fell behind). */
  snapshots = 0;
  /** The last connection failure, cleared by a good connection. */
  lastError: Error | null = null;
  /** The server's `retry:` (ms), if it sent one. */
  serverRetry: number | null = null;

  private readonly authorization: string;
  private readonly clock: Clock;
  private readonly fetch: Fetch;
  private readonly reconnectDelay: number;
  private readonly maxReconnectDelay: number;
  private readonly idleTimeout: number;
  private readonly onError: (error: Error) => void;
  private controller: AbortController | null = null;
  private stopped = false;
  private running: Promise<void> | null = null;
  private attempt = 0;
  private nextAttemptAt = 0;
  private wake: (() => void) | null = null;
  private readyResolve!: () => void;
  private readonly readyPromise: Promise<void>;

  constructor(options: FeedOptions) {
    this.url = options.url;
    this.view = options.view ?? new RevocationView();
    this.clock = options.clock ?? (() => Date.now() / 1000);
    this.fetch = options.fetch ?? globalThis.fetch;
    this.reconnectDelay = options.reconnectDelay ?? 500;
    this.maxReconnectDelay = options.maxReconnectDelay ?? 5000;
    this.idleTimeout = options.idleTimeout ?? 6000;
    this.onError = options.onError ?? (() => {});
    // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    const pair = `${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`;
    this.authorization = `Basic ${Buffer.from(pair, "utf8").toString("base64")}`;
    this.readyPromise = new Promise((resolve) => (this.readyResolve = resolve));
  }

  /** Start following (idempotent). */
  start(): this {
    if (this.running === null && !this.stopped) this.running = this.run();
    return this;
  }

  /** Stop following and close the connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.controller?.abort();
    this.wake?.();
    await this.running;
  }

  /** Resolves once the first snapshot is loaded. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** Seconds since the server last confirmed the view is current. */
  staleness(now: number = this.clock()): number {
    return now - this.freshAt;
  }

  /** Seconds until the next connection attempt (at least 1): a `Retry-After`. */
  retryAfter(): number {
    return Math.max(1, Math.ceil((this.nextAttemptAt - Date.now()) / 1000));
  }

  /** Drop the current connection; the feed reconnects and resumes. */
  disconnect(): void {
    this.controller?.abort();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.follow();
        this.attempt = 0; // a stream the server ended normally
      } catch (error) {
        if (this.stopped) break;
        const failure = error instanceof Error ? error : new Error(String(error));
        this.lastError = failure;
        if (failure instanceof FeedStatusError && (failure.status === 401 || failure.status === 403)) {
          this.freshAt = Number.NEGATIVE_INFINITY;
        }
        this.onError(failure);
        this.attempt++;
      }
      if (!this.stopped) await this.pause(this.backoff());
    }
  }

  /** Capped exponential backoff with jitter: between half and all of
   * `min(cap, base × 2^attempt)`, where base is the server's `retry:`. */
  private backoff(): number {
    const base = this.serverRetry ?? this.reconnectDelay;
    const ceiling = Math.min(this.maxReconnectDelay, base * 2 ** Math.min(this.attempt, 20));
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  private pause(ms: number): Promise<void> {
    this.nextAttemptAt = Date.now() + ms;
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref?.();
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  private async follow(): Promise<void> {
    const controller = new AbortController();
    this.controller = controller;
    let idle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(new Error("revocation feed silent")), this.idleTimeout);
      idle.unref?.();
    };
    try {
      arm();
      const headers: Record<string, string> = {
        accept: "text/event-stream",
        authorization: this.authorization,
        "cache-control": "no-store",
      };
      if (this.position !== null) headers["last-event-id"] = this.position;
      const response = await this.fetch(this.url, { headers, signal: controller.signal });
      if (response.status !== 200 || response.body === null) {
        await response.body?.cancel().catch(() => {});
        throw new FeedStatusError(response.status);
      }
      this.connections++;
      const parser = new SseParser(
        (message) => this.dispatch(message),
        (ms) => (this.serverRetry = ms),
        undefined,
        this.position ?? "",
      );
      const decoder = new TextDecoder("utf-8");
      const reader = response.body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          arm();
          parser.push(decoder.decode(value, { stream: true }));
        }
      } finally {
        reader.releaseLock();
      }
      if (this.stopped) return;
    } catch (error) {
      if (controller.signal.aborted && controller.signal.reason instanceof Error && !this.stopped) {
        throw controller.signal.reason;
      }
      throw error;
    } finally {
      clearTimeout(idle);
      if (this.controller === controller) this.controller = null;
    }
  }

  private dispatch(message: SseMessage): void {
    let payload: unknown;
    try {
      payload = JSON.parse(message.data);
    } catch {
      throw new FeedDataError(`malformed JSON in a ${message.type} event`);
    }
    if (message.type === "snapshot") {
      const snapshot = parseSnapshot(payload);
      this.view.load(snapshot);
      this.position = message.lastEventId || snapshot.position;
      this.snapshots++;
      this.lastError = null;
      this.attempt = 0;
      this.readyResolve();
    } else if (message.type === "revocation") {
      const event = parseEvent(payload);
      this.view.apply(event);
      this.position = message.lastEventId || event.position;
    } else if (message.type === "heartbeat") {
      if (typeof payload === "object" && payload !== null && (payload as { fresh?: unknown }).fresh === true) {
        this.freshAt = this.clock();
      }
    }
    // Other event types are ignored: the protocol may add some.
  }
}

function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, "+");
}
