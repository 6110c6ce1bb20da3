import { createVerifier, type Verifier } from "@jwtwarden/verifier";

/** One verifier per process, configured from the environment. */
export function verifierFromEnv(env: NodeJS.ProcessEnv = process.env): Verifier {
  return createVerifier({
    issuer: env.JWTWARDEN_ISSUER ?? "http://127.0.0.1:8000",
    audience: env.JWTWARDEN_AUDIENCE ?? "jwtwarden",
    clientId: env.JWTWARDEN_CLIENT_ID,
    clientSecret: env.JWTWARDEN_CLIENT_SECRET,
    maxStaleness: Number(env.JWTWARDEN_MAX_STALENESS ?? 10),
    onError: (error) => console.warn(`jwtwarden: ${error.message}`),
  });
}
