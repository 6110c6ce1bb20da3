// A NestJS API guarded by @jwtwarden/verifier.
//
//   JWTWARDEN_ISSUER=http://127.0.0.1:8000 \
//   JWTWARDEN_CLIENT_ID=… JWTWARDEN_CLIENT_SECRET=… PORT=3000 npm start
import "reflect-metadata";

import { NestFactory, Reflector } from "@nestjs/core";
import { JwtWardenGuard } from "@jwtwarden/verifier/nest";

import { AppModule } from "./app.module.js";
import { verifierFromEnv } from "./verifier.js";

async function main(): Promise<void> {
  const verifier = verifierFromEnv();
  const app = await NestFactory.create(AppModule, { logger: ["error", "warn"] });
  // Every route needs a valid, unrevoked token unless marked @Public().
  app.useGlobalGuards(new JwtWardenGuard(verifier, {}, app.get(Reflector)));
  app.enableShutdownHooks();
  await verifier.ready();
  await app.listen(Number(process.env.PORT ?? 3000), "127.0.0.1");
  console.log(`listening on ${await app.getUrl()}`);
  process.once("SIGTERM", () => void verifier.close());
}

void main();
