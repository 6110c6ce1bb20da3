// Test doubles: a jwtwarden server in miniature (rotation, the grace window,
// reuse, cookies in one jar shared by every "tab"), and Web Locks.

export function json(status, body) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 2));

/** One browser profile against one server: the cookie jar is shared by
 * every client (tab) made with `server.fetch`. */
export function fakeServer({ grace = true, ttl = 300 } = {}) {
  const s = {
    generation: 0,
    rotations: 0,
    ended: null,
    jar: null,
    csrf: "csrf-token-1",
    accessValid: true,
    requests: [],
    /** Rotate, then lose the answer, this many times. */
    dropAfterRotation: 0,
    /** Refuse this many refreshes with 503 before answering. */
    unavailable: 0,
    async fetch(url, init = {}) {
      const { pathname } = new URL(url, "https://auth.example.test");
      const headers = new Headers(init.headers);
      const method = init.method ?? "GET";
      s.requests.push({ url, pathname, method, headers, credentials: init.credentials });
      const cookie = s.jar; // what the browser sent, whatever lands meanwhile
      await tick();
      if (pathname === "/session/login") {
        s.jar = s.generation;
        s.ended = null;
        s.accessValid = true;
        return json(200, { sub: "u1", sid: "s1", expires_in: ttl, csrf_token: s.csrf });
      }
      if (pathname === "/session") {
        if (s.jar === null) return json(401, { error: "invalid_token" });
        return json(200, { sub: "u1", sid: "s1", expires_in: ttl, csrf_token: s.csrf });
      }
      if (pathname === "/session/logout") {
        s.jar = null;
        s.ended = "logout";
        return new Response(null, { status: 204 });
      }
      if (pathname === "/session/refresh") return s.refresh(headers, cookie);
      // Any other route is a protected resource.
      if (s.jar === null || s.ended || !s.accessValid) return json(401, { error: "invalid_token" });
      if (method !== "GET" && headers.get("x-csrf-token") !== s.csrf) return json(403, { error: "invalid_request" });
      return json(200, { ok: true, path: pathname });
    },
    async refresh(headers, presented) {
      if (presented === null) return json(400, { error: "invalid_request" });
      if (headers.get("x-csrf-token") !== s.csrf) return json(403, { error: "invalid_request" });
      if (s.unavailable > 0) {
        s.unavailable -= 1;
        return json(503, { error: "temporarily_unavailable" });
      }
      if (s.ended) {
        s.jar = null;
        return json(400, { error: "invalid_grant", ...(s.ended === "reuse" ? { session_ended: "reuse" } : {}) });
      }
      let child;
      if (presented === s.generation) {
        s.generation += 1;
        s.rotations += 1;
        child = s.generation;
      } else if (grace && presented === s.generation - 1) {
        child = s.generation; // the same child again
      } else {
        s.ended = "reuse";
        s.jar = null;
        return json(400, { error: "invalid_grant", session_ended: "reuse" });
      }
      if (s.dropAfterRotation > 0) {
        s.dropAfterRotation -= 1;
        throw new TypeError("network connection lost"); // the cookie never arrives
      }
      s.jar = child;
      s.accessValid = true;
      return json(200, { sub: "u1", sid: "s1", expires_in: ttl });
    },
    refreshes() {
      return s.requests.filter((r) => r.pathname === "/session/refresh").length;
    },
  };
  s.fetch = s.fetch.bind(s);
  return s;
}

/** Web Locks, exclusive mode only: request(name, {signal, steal}, callback). */
export class FakeLocks {
  constructor() {
    this.held = new Map();
    this.queues = new Map();
  }

  request(name, options, callback) {
    return new Promise((resolve, reject) => {
      const entry = { callback, resolve, reject, signal: options.signal };
      if (options.steal) {
        const holder = this.held.get(name);
        if (holder) holder.reject(new DOMException("stolen", "AbortError"));
        this.held.delete(name);
        this._grant(name, entry);
        return;
      }
      if (options.signal) {
        options.signal.addEventListener("abort", () => {
          const queue = this.queues.get(name) ?? [];
          if (queue.includes(entry)) {
            this.queues.set(name, queue.filter((e) => e !== entry));
            reject(new DOMException("aborted", "AbortError"));
          }
        });
      }
      if (!this.held.has(name)) this._grant(name, entry);
      else this.queues.set(name, [...(this.queues.get(name) ?? []), entry]);
    });
  }

  _grant(name, entry) {
    this.held.set(name, entry);
    Promise.resolve()
      .then(() => entry.callback())
      .then(entry.resolve, entry.reject)
      .finally(() => {
        if (this.held.get(name) !== entry) return;
        this.held.delete(name);
        const [next, ...rest] = this.queues.get(name) ?? [];
        this.queues.set(name, rest);
        if (next) this._grant(name, next);
      });
  }

  /** Another tab takes the lock and never lets go. */
  hang(name) {
    this.request(name, {}, () => new Promise(() => {})).catch(() => {});
  }
}
