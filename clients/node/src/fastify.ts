/**
 * Fastify integration (Fastify 4 and 5).
 *
 * - `fastify.register(jwtwardenPlugin, { verifier })` checks every request
 *   of the app (the plugin is not encapsulated, like one wrapped by
 *   `fastify-plugin`) and puts its claims on `request.auth`;
 * - `onRequest: jwtwardenHook(verifier, { roles: ["admin"] })` on a route
 *   or inside an encapsulated plugin checks only those routes.
 *
 * Refusals follow `refusalFor`: 401, 403, 503 with `Retry-After`.
 */

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

import { refusalFor, tokenFromHeaders, type CredentialOptions } from "./http.js";
import { requireRoles, type AccessClaims, type Verifier } from "./verifier.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The verified claims, set by the jwtwarden hook. */
    auth?: AccessClaims;
  }
}

export interface FastifyOptions extends CredentialOptions {
  roles?: readonly string[];
  realm?: string;
}

export type JwtWardenHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** An `onRequest` (or `preHandler`) hook verifying the access token. */
export function jwtwardenHook(verifier: Verifier, options: FastifyOptions = {}): JwtWardenHook {
  const roles = options.roles ?? [];
  return async function jwtwarden(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    try {
      const token = tokenFromHeaders(request.headers.authorization, request.headers.cookie, options);
      request.auth = requireRoles(await verifier.verify(token), roles);
    } catch (error) {
      const refusal = refusalFor(error, options.realm);
      if (refusal === null) throw error;
      await reply.code(refusal.status).headers(refusal.headers).send(refusal.body);
    }
  };
}

/** A Fastify plugin: every route of the app is protected. */
export async function jwtwardenPlugin(
  fastify: FastifyInstance,
  options: FastifyOptions & { verifier: Verifier },
): Promise<void> {
  if (!fastify.hasRequestDecorator("auth")) fastify.decorateRequest("auth", undefined);
  fastify.addHook("onRequest", jwtwardenHook(options.verifier, options));
}
// What fastify-plugin does: the hook applies outside the plugin's scope too.
(jwtwardenPlugin as unknown as Record<symbol, unknown>)[Symbol.for("skip-override")] = true;
(jwtwardenPlugin as unknown as Record<symbol, unknown>)[Symbol.for("fastify.display-name")] = "jwtwarden";
