/** Why a session is over: this tab or another signed out, the server ended
 * it (expired, revoked, password changed), or its refresh token was used
 * twice (possible theft). */
export type EndReason = "signed-out" | "ended" | "theft";

export interface SessionInfo {
  sub: string;
  sid: string;
  /** Seconds the current access token has left. */
  expires_in: number;
  csrf_token?: string;
}

export interface LockManagerLike {
  request<T>(
    name: string,
    options: { signal?: AbortSignal; steal?: boolean },
    callback: () => Promise<T>,
  ): Promise<T>;
}

export interface ClientOptions {
  /** The jwtwarden server, e.g. "https://auth.example.com"; "" (the
   * default) is this page's origin. Another origin must be listed in
   * JWTWARDEN_ALLOWED_ORIGINS. */
  baseUrl?: string;
  /** Refresh this many seconds before the access token expires (default
   * 30, at most a quarter of the token's lifetime). */
  refreshMargin?: number;
  /** Milliseconds to wait for another tab's refresh before stealing the
   * lock (default 5000). */
  lockTimeout?: number;
  /** Milliseconds a refresh request may take (default 10000). */
  requestTimeout?: number;
  /** Retries of a refresh that did not reach the server (default 2). */
  retries?: number;
  /** Milliseconds before the first retry, growing linearly (default 200). */
  retryDelay?: number;
  /** This or another tab signed in. */
  onSignedIn?: () => void;
  /** The session is over, in this tab (every tab hears it). */
  onSignedOut?: (reason: EndReason) => void;
  /** The server ended the session because its refresh token was used twice;
   * called before onSignedOut("theft"). */
  onTheft?: () => void;
  /** This or another tab refreshed. */
  onRefreshed?: () => void;
  /** Injected for tests; default: the global ones. `null` turns one off. */
  fetch?: typeof fetch;
  locks?: LockManagerLike | null;
  BroadcastChannel?: typeof BroadcastChannel | null;
  now?: () => number;
  cookies?: () => string;
  csrfCookies?: string[];
  channelName?: string;
  lockName?: string;
}

export declare class SessionEndedError extends Error {
  readonly reason: EndReason;
  constructor(reason: EndReason);
}

export declare class RefreshFailedError extends Error {
  constructor(message: string, cause?: unknown);
}

export declare class JwtWardenClient {
  constructor(options?: ClientOptions);
  /** When the access token expires (ms since the epoch), if known. */
  expiresAt: number | null;
  login(username: string, password: string): Promise<SessionInfo>;
  session(): Promise<SessionInfo | null>;
  fetch(path: string, init?: RequestInit): Promise<Response>;
  refresh(): Promise<"refreshed">;
  logout(): Promise<void>;
  signedOut(reason?: EndReason): void;
  close(): void;
}

export declare function createClient(options?: ClientOptions): JwtWardenClient;

export declare function withLock<T>(
  locks: LockManagerLike,
  name: string,
  timeout: number,
  body: () => Promise<T>,
): Promise<T>;
