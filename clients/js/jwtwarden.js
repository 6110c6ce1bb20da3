// jwtwarden browser client: cookie mode (tokens in HttpOnly cookies, never
// seen by this script), a fetch wrapper that adds the CSRF header and
// refreshes, one refresh at a time across the tabs of an origin, and sign-out
// and theft reaching every tab. No dependencies, no build step.
//
// How the tabs agree (see README.md):
// - Web Locks: one tab at a time refreshes. A lock not granted within
//   `lockTimeout` is stolen, so a frozen or stuck tab can never block
//   refreshing for good.
// - BroadcastChannel: the tab that refreshes tells the others the outcome;
//   a tab that waited for the lock and hears that another tab refreshed
//   does not refresh again.
// - Without either, tabs that refresh at the same moment with the same
//   refresh cookie each get the same child (the server's grace window). It
//   covers the parent only: a tab that refreshes once another's answer has
//   landed rotates again, and a straggler with the grandparent is reuse, so
//   the lock is what makes many tabs safe. A lost response is the parent
//   case: the retry presents the parent again and gets the same child.

const CHANNEL = "jwtwarden";
const LOCK = "jwtwarden-refresh";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The session is over: `reason` is "signed-out", "ended" or "theft". */
export class SessionEndedError extends Error {
  constructor(reason) {
    super(`jwtwarden: the session is over (${reason})`);
    this.name = "SessionEndedError";
    this.reason = reason;
  }
}

/** A refresh that could not reach the server (network, 5xx, 429): the
 * session may well still be alive, so nobody is signed out. */
export class RefreshFailedError extends Error {
  constructor(message, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "RefreshFailedError";
  }
}

export function createClient(options) {
  return new JwtWardenClient(options);
}

export class JwtWardenClient {
  constructor(options = {}) {
    const o = options;
    this.baseUrl = (o.baseUrl ?? "").replace(/\/+$/, "");
    this.refreshMargin = (o.refreshMargin ?? 30) * 1000;
    this.lockTimeout = o.lockTimeout ?? 5000;
    this.requestTimeout = o.requestTimeout ?? 10000;
    this.retries = o.retries ?? 2;
    this.retryDelay = o.retryDelay ?? 200;
    this.onSignedIn = o.onSignedIn;
    this.onSignedOut = o.onSignedOut;
    this.onTheft = o.onTheft;
    this.onRefreshed = o.onRefreshed;
    this._fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this._locks = o.locks !== undefined ? o.locks : globalThis.navigator?.locks;
    this._now = o.now ?? (() => Date.now());
    this._readCookies = o.cookies ?? (() => globalThis.document?.cookie ?? "");
    this._csrfCookies = o.csrfCookies ?? ["__Host-jwtwarden-csrf", "jwtwarden-csrf"];
    const Channel = o.BroadcastChannel !== undefined ? o.BroadcastChannel : globalThis.BroadcastChannel;
    this._channel = Channel ? new Channel(o.channelName ?? CHANNEL) : null;
    if (this._channel) this._channel.onmessage = (event) => this._hear(event.data);
    this._lockName = o.lockName ?? LOCK;
    /** When the access token expires (ms since the epoch), if known. */
    this.expiresAt = null;
    this._lifetime = null;
    /** Why the session ended, once it has: no callback fires twice. */
    this._ended = null;
    this._csrf = null;
    this._inflight = null;
    // What the other tabs said: the last outcome, and a refresh under way.
    this._heard = null;
    this._othersSince = null;
    this._waiters = [];
  }

  /** Sign in; resolves to the session ({sub, sid, expires_in}). Rejects
   * with an Error carrying `status` and `body` when refused. */
  async login(username, password) {
    const response = await this._send("/session/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    const body = await readJson(response);
    if (!response.ok) throw httpError("sign-in refused", response, body);
    this._learn(body);
    this._heard = null;
    this._post({ type: "signed-in", csrf: body.csrf_token, expiresIn: body.expires_in });
    return body;
  }

  /** The current session as the server sees the cookies ({sub, sid,
   * expires_in, csrf_token}), or null when there is none. */
  async session() {
    const response = await this._send("/session", { method: "GET" });
    if (response.status === 401) return null;
    const body = await readJson(response);
    if (!response.ok) throw httpError("session state refused", response, body);
    this._learn(body);
    return body;
  }

  /** `fetch` for the server's cookie routes: credentials included, the CSRF
   * header added, a refresh first when the access token is about to expire,
   * and once more on a 401, after which the request is retried once. A 401
   * that survives the refresh is returned as it is. */
  async fetch(path, init = {}) {
    if (this.expiresAt !== null && this._now() >= this.expiresAt - this._margin()) {
      try {
        await this.refresh();
      } catch (error) {
        // Unreachable for now: the access token may still be good.
        if (!(error instanceof SessionEndedError)) return this._fetchOnce(path, init);
      }
    }
    return this._fetchOnce(path, init);
  }

  async _fetchOnce(path, init) {
    let response = await this._send(path, init);
    if (response.status !== 401 || this._ended !== null) return response;
    try {
      if ((await this.refresh()) === "refreshed") response = await this._send(path, init);
    } catch (error) {
      if (!(error instanceof SessionEndedError)) throw error;
    }
    return response;
  }

  /** Refresh now, coordinated with the other tabs. Resolves to "refreshed";
   * rejects with SessionEndedError when the session is over (after the
   * callbacks ran) and RefreshFailedError when the server could not be
   * reached (nobody is signed out). One refresh per tab at a time. */
  refresh() {
    if (this._inflight === null) {
      this._inflight = this._refreshShared().finally(() => {
        this._inflight = null;
      });
    }
    return this._inflight;
  }

  /** Sign out this session, in every tab of this origin. */
  async logout() {
    try {
      await this._send("/session/logout", { method: "POST" });
    } finally {
      this._end("signed-out", true);
    }
  }

  /** Tell this client (and every tab) that the session ended another way,
   * e.g. after `POST /logout/all`. */
  signedOut(reason = "signed-out") {
    this._end(reason, true);
  }

  /** Stop listening to the other tabs. */
  close() {
    this._channel?.close();
    this._channel = null;
  }

  // -- internals ---------------------------------------------------------

  _margin() {
    // Short-lived tokens (tests, strict setups) refresh in their last quarter.
    return this._lifetime === null ? this.refreshMargin : Math.min(this.refreshMargin, this._lifetime / 4);
  }

  _csrfToken() {
    for (const part of this._readCookies().split(";")) {
      const at = part.indexOf("=");
      const name = part.slice(0, at).trim();
      if (at > 0 && this._csrfCookies.includes(name)) return decodeURIComponent(part.slice(at + 1).trim());
    }
    return this._csrf;
  }

  _send(path, init = {}) {
    const method = (init.method ?? "GET").toUpperCase();
    const headers = new Headers(init.headers ?? {});
    const csrf = this._csrfToken();
    if (!SAFE_METHODS.has(method) && csrf && !headers.has("x-csrf-token")) {
      headers.set("x-csrf-token", csrf);
    }
    const url = /^https?:/.test(path) ? path : this.baseUrl + path;
    return this._fetch(url, { ...init, method, headers, credentials: "include" });
  }

  _learn(body) {
    if (typeof body.csrf_token === "string") this._csrf = body.csrf_token;
    if (typeof body.expires_in === "number") this._expiresIn(body.expires_in);
    this._ended = null;
  }

  _expiresIn(seconds) {
    this.expiresAt = this._now() + seconds * 1000;
    if (seconds > 0) this._lifetime = Math.max(this._lifetime ?? 0, seconds * 1000);
  }

  async _refreshShared() {
    const asked = this._now();
    const attempt = async () => {
      // The lock and the other tab's announcement travel separately, and
      // the lock can arrive first: yield once to the event loop so an
      // announcement already delivered is read before deciding.
      if (this._locks && this._channel) await delay(0);
      // Another tab refreshed while this one waited: its cookies are ours.
      if (this._heard !== null && this._heard.at >= asked) return this._outcome(this._heard.outcome);
      if (this._othersSince !== null && this._now() - this._othersSince < this.lockTimeout) {
        const heard = await this._hearOutcome(this.lockTimeout);
        if (heard !== null) return this._outcome(heard);
      }
      this._post({ type: "refreshing" });
      let outcome;
      try {
        outcome = await this._refreshRequest();
      } catch (error) {
        this._post({ type: "refresh-failed" });
        throw error;
      }
      if (outcome === "refreshed") {
        this._post({ type: "refreshed", expiresIn: (this.expiresAt - this._now()) / 1000 });
        this.onRefreshed?.();
        return outcome;
      }
      this._end(outcome, true);
      throw new SessionEndedError(outcome);
    };
    return this._locks ? withLock(this._locks, this._lockName, this.lockTimeout, attempt) : attempt();
  }

  _outcome(outcome) {
    if (outcome === "refreshed") return outcome;
    throw new SessionEndedError(outcome);
  }

  /** One refresh request, retried on a network error, a 5xx or a 429 (the
   * server may have rotated before the answer was lost: the retry presents
   * the same refresh cookie and the grace window gives the same child). */
  async _refreshRequest() {
    let lastError = null;
    for (let attempt = 0; attempt <= this.retries; attempt += 1) {
      if (attempt > 0) await delay(this.retryDelay * attempt);
      if (this._csrfToken() === null) {
        try {
          if ((await this.session()) === null) return "ended";
        } catch (error) {
          lastError = error;
          continue;
        }
      }
      let response;
      try {
        response = await this._send("/session/refresh", {
          method: "POST",
          signal: AbortSignal.timeout(this.requestTimeout),
        });
      } catch (error) {
        lastError = error;
        continue;
      }
      const body = await readJson(response);
      if (response.ok) {
        this._learn(body);
        return "refreshed";
      }
      if (response.status === 400) return body.session_ended === "reuse" ? "theft" : "ended";
      if (response.status === 403 && this._csrf !== null) {
        this._csrf = null; // a CSRF token of an older session: learn it again
      }
      lastError = httpError("refresh failed", response, body);
    }
    throw new RefreshFailedError("jwtwarden: the refresh did not reach the server", lastError);
  }

  _end(reason, broadcast) {
    const already = this._ended !== null;
    this.expiresAt = null;
    this._csrf = null;
    this._heard = { outcome: reason, at: this._now() };
    this._wake(reason);
    if (already) return;
    this._ended = reason;
    if (broadcast) this._post({ type: "ended", reason });
    if (reason === "theft") this.onTheft?.();
    this.onSignedOut?.(reason);
  }

  _post(message) {
    try {
      this._channel?.postMessage(message);
    } catch {
      // A closed channel: the other tabs learn at their next request.
    }
  }

  _hear(message) {
    if (message === null || typeof message !== "object") return;
    switch (message.type) {
      case "refreshing":
        this._othersSince = this._now();
        break;
      case "refreshed":
        this._othersSince = null;
        if (typeof message.expiresIn === "number") this._expiresIn(message.expiresIn);
        this._heard = { outcome: "refreshed", at: this._now() };
        this._wake("refreshed");
        this.onRefreshed?.();
        break;
      case "refresh-failed":
        this._othersSince = null;
        this._wake(null);
        break;
      case "ended":
        this._othersSince = null;
        if (["signed-out", "ended", "theft"].includes(message.reason)) this._end(message.reason, false);
        break;
      case "signed-in":
        if (typeof message.csrf === "string") this._csrf = message.csrf;
        if (typeof message.expiresIn === "number") this._expiresIn(message.expiresIn);
        this._heard = null;
        this._ended = null;
        this.onSignedIn?.();
        break;
      default:
        break;
    }
  }

  _hearOutcome(timeout) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), timeout);
      const done = (outcome) => {
        clearTimeout(timer);
        this._waiters = this._waiters.filter((w) => w !== done);
        resolve(outcome);
      };
      this._waiters.push(done);
    });
  }

  _wake(outcome) {
    for (const waiter of [...this._waiters]) waiter(outcome);
  }
}

/** Run `body` holding the Web Lock `name`; if it is not granted within
 * `timeout` ms, steal it (the holder is stuck or frozen; the server's grace
 * window makes a refresh beside it safe). */
export async function withLock(locks, name, timeout, body) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  let work = null;
  try {
    await locks.request(name, { signal: controller.signal }, () => {
      clearTimeout(timer);
      work = body();
      return work.then(ignore, ignore);
    });
  } catch (error) {
    // Not granted in time: steal it. (Granted, then stolen by another tab:
    // this tab's own refresh still decides, below.)
    if (work === null) {
      if (!controller.signal.aborted) throw error;
      return locks.request(name, { steal: true }, body);
    }
  } finally {
    clearTimeout(timer);
  }
  return work;
}

function ignore() {}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readJson(response) {
  try {
    const body = await response.json();
    return body !== null && typeof body === "object" ? body : {};
  } catch {
    return {};
  }
}

function httpError(what, response, body) {
  const error = new Error(`jwtwarden: ${what} (${response.status}${body.error ? ` ${body.error}` : ""})`);
  error.status = response.status;
  error.body = body;
  return error;
}
