/**
 * A NestJS guard (platform-express or platform-fastify).
 *
 * ```ts
 * app.useGlobalGuards(new JwtWardenGuard(verifier));   // or @UseGuards(...)
 * @Roles("admin") @Get("admin") admin(@Req() req) { return req.auth; }
 * @Public() @Get("health") health() {}
 * ```
 *
 * The claims go on `request.auth`. Refusals follow `refusalFor`: 401 with
 * `WWW-Authenticate`, 403, 503 with `Retry-After` (headers are set on the
 * response before the HttpException reaches Nest's exception filter).
 */

import {
  HttpException,
  SetMetadata,
  type CanActivate,
  type CustomDecorator,
  type ExecutionContext,
} from "@nestjs/common";
import { Reflector } from "@nestjs/core";

import { refusalFor, tokenFromHeaders, type CredentialOptions } from "./http.js";
import { requireRoles, type AccessClaims, type Verifier } from "./verifier.js";

export const ROLES_KEY = "jwtwarden:roles";
export const PUBLIC_KEY = "jwtwarden:public";

/** Roles a handler (or every handler of a controller) requires. */
export const Roles = (...roles: string[]): CustomDecorator<string> => SetMetadata(ROLES_KEY, roles);
/** A handler the guard lets through without a token. */
export const Public = (): CustomDecorator<string> => SetMetadata(PUBLIC_KEY, true);

export interface GuardOptions extends CredentialOptions {
  realm?: string;
}

interface HttpRequest {
  headers: Record<string, string | string[] | undefined>;
  auth?: AccessClaims;
}

interface HttpResponse {
  setHeader?: (name: string, value: string) => unknown; // Express, Node
  header?: (name: string, value: string) => unknown; // Fastify reply
}

export class JwtWardenGuard implements CanActivate {
  constructor(
    private readonly verifier: Verifier,
    private readonly options: GuardOptions = {},
    private readonly reflector: Reflector = new Reflector(),
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const roles = this.reflector.getAllAndOverride<string[]>(ROLES_KEY, targets) ?? [];
    const http = context.switchToHttp();
    const request = http.getRequest<HttpRequest>();
    try {
      const token = tokenFromHeaders(request.headers["authorization"], request.headers["cookie"], this.options);
      request.auth = requireRoles(await this.verifier.verify(token), roles);
      return true;
    } catch (error) {
      const refusal = refusalFor(error, this.options.realm);
      if (refusal === null) throw error;
      const response = http.getResponse<HttpResponse>();
      for (const [name, value] of Object.entries(refusal.headers)) {
        if (typeof response.setHeader === "function") response.setHeader(name, value);
        else response.header?.(name, value);
      }
      throw new HttpException(refusal.body, refusal.status, { cause: error });
    }
  }
}
