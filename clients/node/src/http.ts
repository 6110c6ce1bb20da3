/**
 * Where an access token travels, and how a refusal is answered: shared by
 * the Express, Fastify and NestJS integrations so they all read
 * credentials and answer failures alike (the Python
 * `jwtwarden.verifier.credentials`):
 *
 * - a `Bearer` header (RFC 6750 §2.1) wins, else the browser-mode access
 *   cookie when `cookies` is on;
 * - a missing or bad token is 401 with
 *   `WWW-Authenticate: Bearer error="invalid_token"`;
 * - a missing role is 403 `insufficient_scope` (RFC 6750 §3.1);
 * - stale revocations are 503 `temporarily_unavailable` with `Retry-After`,
 *   never 401: the token may be good, the verifier cannot tell yet.
 */

import { InsufficientScopeError, InvalidTokenError, JwtWardenError, StaleRevocationsError } from "./errors.js";
import { MAX_TOKEN_LENGTH } from "./verifier.js";

/** The browser-mode access-token cookie, and its plain-HTTP development name. */
export const ACCESS_COOKIE = "__Host-jwtwarden-at";
export const ACCESS_COOKIE_INSECURE = "jwtwarden-at";

const BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)$/;

export interface CredentialOptions {
  /** Also read the access cookie: `true` for `__Host-jwtwarden-at`,
   * `"insecure"` to accept `jwtwarden-at` too (plain-HTTP development). */
  cookies?: boolean | "insecure";
}

/** The token of an `Authorization: Bearer …` header, or `null`. */
export function tokenFromAuthorization(value: string | string[] | undefined | null): string | null {
  const header = Array.isArray(value) ? value[0] : value;
  if (!header || header.length > MAX_TOKEN_LENGTH + 16) return null;
  const match = BEARER.exec(header.trim());
  return match ? match[1]! : null;
}

/** The access-token cookie from a `Cookie` header, or `null`. */
export function tokenFromCookieHeader(value: string | string[] | undefined | null, names: readonly string[]): string | null {
  const header = Array.isArray(value) ? value.join("; ") : value;
  if (!header || header.length > 16 * 1024) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const cookie = part.slice(eq + 1).trim();
    if (names.includes(name) && cookie.length > 0 && cookie.length <= MAX_TOKEN_LENGTH) return cookie;
  }
  return null;
}

/** The access token of a request; InvalidTokenError when it carries none. */
export function tokenFromHeaders(
  authorization: string | string[] | undefined | null,
  cookie: string | string[] | undefined | null,
  options: CredentialOptions = {},
): string {
  let token = tokenFromAuthorization(authorization);
  if (token === null && options.cookies) {
    const names = options.cookies === "insecure" ? [ACCESS_COOKIE, ACCESS_COOKIE_INSECURE] : [ACCESS_COOKIE];
    token = tokenFromCookieHeader(cookie, names);
  }
  if (token === null) throw new InvalidTokenError("No access token was sent.");
  return token;
}

/** An HTTP answer to a failed check. */
export interface Refusal {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description: string };
}

/** The answer to a verification error; `null` for an error that is not
 * ours (a bug: the caller passes it on to the framework's error handling). */
export function refusalFor(error: unknown, realm = "jwtwarden"): Refusal | null {
  if (!(error instanceof JwtWardenError)) return null;
  const headers: Record<string, string> = { "cache-control": "no-store" };
  if (error instanceof StaleRevocationsError) {
    headers["retry-after"] = String(Math.max(1, Math.ceil(error.retryAfter)));
    return { status: 503, headers, body: { error: "temporarily_unavailable", error_description: error.description } };
  }
  let status = 401;
  let code = "invalid_token";
  if (error instanceof InsufficientScopeError) {
    status = 403;
    code = "insufficient_scope";
  } else if (!(error instanceof InvalidTokenError)) {
    return null;
  }
  const description = error.description.replace(/["\\]/g, "'");
  headers["www-authenticate"] = `Bearer realm="${realm}", error="${code}", error_description="${description}"`;
  return { status, headers, body: { error: code, error_description: error.description } };
}
