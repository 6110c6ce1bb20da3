/**
 * RevocationView: the bounded local state a verifier checks tokens against,
 * and the one rule that judges a token by it (a port of the Python
 * `core/revocation.py` `revocation_cause` and `core/view.py`).
 *
 * Only revocations younger than the longest access-token lifetime can
 * matter, so every entry carries a `forget_at` instant (seconds since the
 * epoch, the server's clock) and the view drops it on its own: its size is
 * the revocation rate × the access-token lifetime, never the history.
 *
 * Lookups are `Map` reads; expiry runs from a min-heap only when its head is
 * due, so a check costs O(1) amortised whatever the size of the view.
 */

/** Why an access token is revoked; each maps to one error class. */
export type Cause = "denied" | "session" | "cutoff" | "banned";

/** The per-user revocation state: a cutoff and a ban, both optional. */
export interface UserRevocation {
  /** Sessions that began strictly before this instant are dead. */
  cutoffAt: number | null;
  /** The one session the cutoff spares (`logout/all?keep_current=true`). */
  keepSid: string | null;
  /** No login or refresh before this instant. */
  bannedUntil: number | null;
}

/** One `revocation` event of the feed. */
export interface RevocationEvent {
  position: string;
  kind: "jti" | "sid" | "user" | "store" | string;
  key: string;
  forgetAt: number;
  user: UserRevocation | null;
  cutoffAt: number | null;
}

/** The `snapshot` event of the feed: everything that can still matter. */
export interface RevocationSnapshot {
  position: string | null;
  denied: Map<string, number>;
  sessions: Map<string, number>;
  users: Map<string, { revocation: UserRevocation; forgetAt: number }>;
  storeCutoff: { cutoffAt: number; forgetAt: number } | null;
}

/** What the rule needs to know about a token. */
export interface TokenFacts {
  sub: string;
  sid: string;
  jti: string;
  authTime: number;
}

/**
 * The reason a token with these facts is revoked, or `null`: the Python
 * `revocation_cause`, in the same order. A ban is reported as `banned` while
 * it lasts; the cutoff it set stays after it is lifted.
 */
export function revocationCause(
  facts: { sid: string; authTime: number; jtiDenied: boolean; sessionRevoked: boolean },
  user: UserRevocation | undefined,
  now: number,
  storeCutoff: number | null,
): Cause | null {
  if (facts.jtiDenied) return "denied";
  if (storeCutoff !== null && facts.authTime < storeCutoff) return "cutoff";
  if (facts.sessionRevoked) return "session";
  if (user !== undefined && user.cutoffAt !== null && facts.authTime < user.cutoffAt && facts.sid !== user.keepSid) {
    return user.bannedUntil !== null && now < user.bannedUntil ? "banned" : "cutoff";
  }
  return null;
}

const JTI = 0;
const SID = 1;
const SUB = 2;
type Entry = [forgetAt: number, table: number, key: string];

export class RevocationView {
  private readonly denied = new Map<string, number>();
  private readonly sessions = new Map<string, number>();
  private readonly users = new Map<string, { revocation: UserRevocation; forgetAt: number }>();
  private storeCutoff: { cutoffAt: number; forgetAt: number } | null = null;
  private readonly expiry: Entry[] = [];

  /** Entries held (denied jtis + revoked sids + users). */
  get size(): number {
    return this.denied.size + this.sessions.size + this.users.size;
  }

  denyJti(jti: string, forgetAt: number): void {
    this.put(this.denied, JTI, jti, forgetAt);
  }

  revokeSession(sid: string, forgetAt: number): void {
    this.put(this.sessions, SID, sid, forgetAt);
  }

  setUser(sub: string, revocation: UserRevocation, forgetAt: number): void {
    this.users.set(sub, { revocation, forgetAt });
    this.push([forgetAt, SUB, sub]);
  }

  /** Every token from before `cutoffAt` is revoked, until `forgetAt`. */
  setStoreCutoff(cutoffAt: number, forgetAt: number): void {
    this.storeCutoff = { cutoffAt, forgetAt };
  }

  /** Add every entry of `snapshot` (a merge: entries only ever add, and a
   * user's state is replaced by the newer one). */
  load(snapshot: RevocationSnapshot): void {
    if (snapshot.storeCutoff !== null) {
      this.setStoreCutoff(snapshot.storeCutoff.cutoffAt, snapshot.storeCutoff.forgetAt);
    }
    for (const [jti, at] of snapshot.denied) this.denyJti(jti, at);
    for (const [sid, at] of snapshot.sessions) this.revokeSession(sid, at);
    for (const [sub, entry] of snapshot.users) this.setUser(sub, entry.revocation, entry.forgetAt);
  }

  /** Apply one feed event; applying an event twice changes nothing. Kinds
   * this version does not know are ignored (the protocol may add some). */
  apply(event: RevocationEvent): void {
    switch (event.kind) {
      case "jti":
        this.denyJti(event.key, event.forgetAt);
        break;
      case "sid":
        this.revokeSession(event.key, event.forgetAt);
        break;
      case "user":
        if (event.user !== null) this.setUser(event.key, event.user, event.forgetAt);
        break;
      case "store":
        if (event.cutoffAt !== null) this.setStoreCutoff(event.cutoffAt, event.forgetAt);
        break;
    }
  }

  /** Drop every entry whose `forget_at` has passed; return how many. */
  forgetExpired(now: number): number {
    let dropped = 0;
    const heap = this.expiry;
    while (heap.length > 0 && heap[0]![0] <= now) {
      const [at, table, key] = this.pop()!;
      if (table === SUB) {
        const entry = this.users.get(key);
        if (entry !== undefined && entry.forgetAt <= at) {
          this.users.delete(key);
          dropped++;
        }
      } else {
        const map = table === JTI ? this.denied : this.sessions;
        const current = map.get(key);
        if (current !== undefined && current <= at) {
          map.delete(key);
          dropped++;
        }
      }
    }
    return dropped;
  }

  /** Why a token with these facts is revoked at `now`, or `null`. Entries
   * past their `forget_at` are dropped first, so the answer never depends on
   * when expiry last ran. */
  cause(facts: TokenFacts, now: number): Cause | null {
    const head = this.expiry[0];
    if (head !== undefined && head[0] <= now) this.forgetExpired(now);
    const everyone = this.storeCutoff;
    return revocationCause(
      {
        sid: facts.sid,
        authTime: facts.authTime,
        jtiDenied: this.denied.has(facts.jti),
        sessionRevoked: this.sessions.has(facts.sid),
      },
      this.users.get(facts.sub)?.revocation,
      now,
      everyone !== null && now < everyone.forgetAt ? everyone.cutoffAt : null,
    );
  }

  private put(map: Map<string, number>, table: number, key: string, forgetAt: number): void {
    const current = map.get(key);
    if (current === undefined || current < forgetAt) {
      map.set(key, forgetAt);
      this.push([forgetAt, table, key]);
    }
  }

  private push(entry: Entry): void {
    const heap = this.expiry;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]![0] <= entry[0]) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): Entry | undefined {
    const heap = this.expiry;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]![0] < heap[left]![0] ? right : left;
      if (heap[child]![0] >= last[0]) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}

/** The feed sent something this client cannot read (protocol error). */
export class FeedDataError extends Error {}

function fail(what: string): never {
  throw new FeedDataError(`malformed feed data: ${what}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function instant(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) fail(what);
  return value;
}

function instantOrNull(value: unknown, what: string): number | null {
  return value === null || value === undefined ? null : instant(value, what);
}

function stringOrNull(value: unknown, what: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string") fail(what);
  return value;
}

function userFrom(value: unknown, what: string): UserRevocation | null {
  if (value === null || value === undefined) return null;
  if (!isObject(value)) fail(what);
  return {
    cutoffAt: instantOrNull(value["cutoff_at"], `${what}.cutoff_at`),
    keepSid: stringOrNull(value["keep_sid"], `${what}.keep_sid`),
    bannedUntil: instantOrNull(value["banned_until"], `${what}.banned_until`),
  };
}

function instants(value: unknown, what: string): Map<string, number> {
  if (!isObject(value)) fail(what);
  const out = new Map<string, number>();
  for (const key of Object.keys(value)) out.set(key, instant(value[key], `${what}[]`));
  return out;
}

/** Parse the JSON data of a `snapshot` event; throws FeedDataError. */
export function parseSnapshot(data: unknown): RevocationSnapshot {
  if (!isObject(data)) fail("snapshot");
  const users = new Map<string, { revocation: UserRevocation; forgetAt: number }>();
  const rawUsers = data["users"];
  if (!isObject(rawUsers)) fail("snapshot.users");
  for (const sub of Object.keys(rawUsers)) {
    const entry = rawUsers[sub];
    if (!isObject(entry)) fail("snapshot.users[]");
    const revocation = userFrom(entry["revocation"], "snapshot.users[].revocation");
    if (revocation !== null) {
      users.set(sub, { revocation, forgetAt: instant(entry["forget_at"], "snapshot.users[].forget_at") });
    }
  }
  const cutoff = data["store_cutoff"];
  let storeCutoff: RevocationSnapshot["storeCutoff"] = null;
  if (cutoff !== null && cutoff !== undefined) {
    if (!Array.isArray(cutoff) || cutoff.length !== 2) fail("snapshot.store_cutoff");
    storeCutoff = {
      cutoffAt: instant(cutoff[0], "snapshot.store_cutoff[0]"),
      forgetAt: instant(cutoff[1], "snapshot.store_cutoff[1]"),
    };
  }
  return {
    position: stringOrNull(data["position"], "snapshot.position"),
    denied: instants(data["denied"], "snapshot.denied"),
    sessions: instants(data["sessions"], "snapshot.sessions"),
    users,
    storeCutoff,
  };
}

/** Parse the JSON data of a `revocation` event; throws FeedDataError. */
export function parseEvent(data: unknown): RevocationEvent {
  if (!isObject(data)) fail("revocation");
  const { position, kind, key } = data;
  if (typeof position !== "string" || position === "") fail("revocation.position");
  if (typeof kind !== "string") fail("revocation.kind");
  if (typeof key !== "string") fail("revocation.key");
  return {
    position,
    kind,
    key,
    forgetAt: instant(data["forget_at"], "revocation.forget_at"),
    user: userFrom(data["user"], "revocation.user"),
    cutoffAt: instantOrNull(data["cutoff_at"], "revocation.cutoff_at"),
  };
}
