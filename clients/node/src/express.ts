/**
 * Express middleware (Express 4 and 5): `app.use(jwtwarden(verifier))`
 * verifies the request's access token and puts its claims on `req.auth`;
 * `requireRoles("admin")` after it guards a route. Refusals follow
 * `refusalFor` (401, 403, 503 with `Retry-After`); any other error goes to
 * `next(error)`.
 */

import type { NextFunction, Request, RequestHandler, Response } from "express";

import { requireRoles as checkRoles, type AccessClaims, type Verifier } from "./verifier.js";
import { refusalFor, tokenFromHeaders, type CredentialOptions } from "./http.js";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The verified claims, set by the jwtwarden middleware. */
      auth?: AccessClaims;
    }
  }
}

export interface ExpressOptions extends CredentialOptions {
  /** Roles every request must carry (403 otherwise). */
  roles?: readonly string[];
  realm?: string;
}

function refuse(res: Response, next: NextFunction, error: unknown, realm?: string): void {
  const refusal = refusalFor(error, realm);
  if (refusal === null) {
    next(error);
    return;
  }
  res.status(refusal.status).set(refusal.headers).json(refusal.body);
}

/** Verify every request's access token; claims on `req.auth`. */
export function jwtwarden(verifier: Verifier, options: ExpressOptions = {}): RequestHandler {
  const roles = options.roles ?? [];
  return function jwtwardenMiddleware(req: Request, res: Response, next: NextFunction): void {
    let token: string;
    try {
      token = tokenFromHeaders(req.headers.authorization, req.headers.cookie, options);
    } catch (error) {
      refuse(res, next, error, options.realm);
      return;
    }
    verifier.verify(token).then(
      (claims) => {
        try {
          checkRoles(claims, roles);
        } catch (error) {
          refuse(res, next, error, options.realm);
          return;
        }
        req.auth = claims;
        next();
      },
      (error: unknown) => refuse(res, next, error, options.realm),
    );
  };
}

/** 403 unless the claims `jwtwarden()` set carry every role in `roles`. */
export function requireRoles(...roles: string[]): RequestHandler {
  return function jwtwardenRoles(req: Request, res: Response, next: NextFunction): void {
    if (req.auth === undefined) {
      next(new Error("requireRoles() needs the jwtwarden() middleware before it."));
      return;
    }
    try {
      checkRoles(req.auth, roles);
    } catch (error) {
      refuse(res, next, error);
      return;
    }
    next();
  };
}
