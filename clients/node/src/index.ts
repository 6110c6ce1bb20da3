/**
 * @jwtwarden/verifier: revocation-aware local verification of jwtwarden
 * access tokens. Framework integrations live in `@jwtwarden/verifier/express`,
 * `/fastify` and `/nest`, so this entry point imports no framework.
 */

export * from "./errors.js";
export { RevocationFeed, FeedStatusError, type FeedOptions, type Clock, type Fetch } from "./feed.js";
export { KeySet, importKeySet, type VerificationKey } from "./jwks.js";
export {
  ACCESS_COOKIE,
  ACCESS_COOKIE_INSECURE,
  refusalFor,
  tokenFromAuthorization,
  tokenFromCookieHeader,
  tokenFromHeaders,
  type CredentialOptions,
  type Refusal,
} from "./http.js";
export { SseParser, type SseMessage } from "./sse.js";
export {
  checkClaims,
  createVerifier,
  MAX_TOKEN_LENGTH,
  requireRoles,
  revokedError,
  Verifier,
  type AccessClaims,
  type StaleDecision,
  type VerifierOptions,
} from "./verifier.js";
export {
  FeedDataError,
  parseEvent,
  parseSnapshot,
  revocationCause,
  RevocationView,
  type Cause,
  type RevocationEvent,
  type RevocationSnapshot,
  type TokenFacts,
  type UserRevocation,
} from "./view.js";
