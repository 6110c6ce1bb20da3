import { Controller, Get, Req } from "@nestjs/common";
import type { AccessClaims } from "@jwtwarden/verifier";
import { Public, Roles } from "@jwtwarden/verifier/nest";

interface AuthedRequest {
  auth: AccessClaims;
}

@Controller()
export class AppController {
  @Public()
  @Get("healthz")
  health(): { ok: boolean } {
    return { ok: true };
  }

  @Get("me")
  me(@Req() req: AuthedRequest): { sub: string; sid: string; roles: readonly string[] } {
    return { sub: req.auth.sub, sid: req.auth.sid, roles: req.auth.roles };
  }

  @Roles("admin")
  @Get("admin/report")
  report(@Req() req: AuthedRequest): { report: string; by: string } {
    return { report: "for admins", by: req.auth.sub };
  }
}
