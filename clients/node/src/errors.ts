/**
 * The error kinds of the verifier: the same tree as the Python package's
 * `jwtwarden.errors`, so a Node and a Python resource server refuse the same
 * token for the same reason.
 *
 * ```
 * JwtWardenError                 .code (RFC word), .description (safe to show)
 * ├── InvalidTokenError          invalid_token: bad, expired or revoked AT
 * │   ├── MalformedTokenError, BadSignatureError, UnknownKeyError,
 * │   ├── ExpiredTokenError, ClaimsError (iss, aud, typ, missing claims),
 * │   ├── StaleRevocationsError (the verifier lost its revocation feed)
 * │   └── RevokedTokenError → TokenDeniedError, SessionRevokedError,
 * │                           UserCutoffError, UserBannedError
 * ├── InsufficientScopeError     insufficient_scope
 * └── ConfigurationError
 * ```
 *
 * `kind` is the class name without `Error` or `TokenError`: `Malformed`,
 * `UnknownKey`, `BadSignature`, `Claims`, `Expired`, `StaleRevocations`,
 * `TokenDenied`, `SessionRevoked`, `UserCutoff`, `UserBanned` (the names
 * the Python verifier's classes carry); `description` never contains the token.
 */

export class JwtWardenError extends Error {
  /** Set explicitly in every class, so `kind` survives minification. */
  override name: string = "JwtWardenError";
  /** The RFC 6749 / 6750 error code sent on the wire. */
  readonly code: string = "server_error";
  /** Client-facing text; never contains a token or a secret. */
  readonly description: string;
  /** Operator-facing detail for logs; never shown to the client. */
  readonly detail: string | undefined;

  constructor(description?: string, options?: { detail?: string; cause?: unknown }) {
    super(description, options?.cause === undefined ? undefined : { cause: options.cause });
    this.description = description ?? (this.constructor as typeof JwtWardenError).defaultDescription;
    this.message = this.description;
    this.detail = options?.detail;
  }

  static defaultDescription = "The request failed.";

  /** The class name without `Error`/`TokenError`: `"Malformed"`, `"UserBanned"`, … */
  get kind(): string {
    return this.name.replace(/(Token)?Error$/, "");
  }
}

export class InvalidTokenError extends JwtWardenError {
  override readonly name: string = "InvalidTokenError";
  override readonly code: string = "invalid_token";
  static override defaultDescription = "The access token is invalid.";
}

export class MalformedTokenError extends InvalidTokenError {
  override readonly name: string = "MalformedTokenError";
  static override defaultDescription = "The access token is malformed.";
}

export class BadSignatureError extends InvalidTokenError {
  override readonly name: string = "BadSignatureError";
  static override defaultDescription = "The access token signature is invalid.";
}

export class UnknownKeyError extends InvalidTokenError {
  override readonly name: string = "UnknownKeyError";
  static override defaultDescription = "The access token was signed by an unknown key.";
}

export class ExpiredTokenError extends InvalidTokenError {
  override readonly name: string = "ExpiredTokenError";
  static override defaultDescription = "The access token has expired.";
}

export class ClaimsError extends InvalidTokenError {
  override readonly name: string = "ClaimsError";
  static override defaultDescription = "The access token claims are invalid.";
}

/**
 * The verifier has not heard from its revocation feed for longer than its
 * staleness bound and is configured to fail closed. Middleware answers 503
 * with `Retry-After`, never 401: the token may well be good.
 */
export class StaleRevocationsError extends InvalidTokenError {
  override readonly name: string = "StaleRevocationsError";
  static override defaultDescription = "Revocation data is out of date; try again shortly.";
  /** Seconds after which trying again may succeed. */
  retryAfter = 1;
}

export class RevokedTokenError extends InvalidTokenError {
  override readonly name: string = "RevokedTokenError";
  static override defaultDescription = "The access token has been revoked.";
}

export class TokenDeniedError extends RevokedTokenError {
  override readonly name: string = "TokenDeniedError";
  static override defaultDescription = "The access token has been revoked.";
}

export class SessionRevokedError extends RevokedTokenError {
  override readonly name: string = "SessionRevokedError";
  static override defaultDescription = "The session of this access token has ended.";
}

export class UserCutoffError extends RevokedTokenError {
  override readonly name: string = "UserCutoffError";
  static override defaultDescription =
    "Every token of this user issued before a cutoff has been revoked.";
}

export class UserBannedError extends RevokedTokenError {
  override readonly name: string = "UserBannedError";
  static override defaultDescription = "The user is banned.";
}

export class InsufficientScopeError extends JwtWardenError {
  override readonly name: string = "InsufficientScopeError";
  override readonly code: string = "insufficient_scope";
  static override defaultDescription = "The access token lacks a required role.";
}

export class ConfigurationError extends JwtWardenError {
  override readonly name: string = "ConfigurationError";
  override readonly code: string = "configuration_error";
  static override defaultDescription = "The verifier is misconfigured.";
}
