// An Express API protected by @jwtwarden/verifier.
//
//   JWTWARDEN_ISSUER=http://127.0.0.1:8000 \
//   JWTWARDEN_CLIENT_ID=… JWTWARDEN_CLIENT_SECRET=… PORT=3000 npm start
//
// Tokens are verified in this process (keys from the server's JWKS,
// revocations from its feed); no request makes a network call.
import express from "express";

import { createVerifier } from "@jwtwarden/verifier";
import { jwtwarden, requireRoles } from "@jwtwarden/verifier/express";

const env = process.env;
const verifier = createVerifier({
  issuer: env.JWTWARDEN_ISSUER ?? "http://127.0.0.1:8000",
  audience: env.JWTWARDEN_AUDIENCE ?? "jwtwarden",
  clientId: env.JWTWARDEN_CLIENT_ID,
  clientSecret: env.JWTWARDEN_CLIENT_SECRET,
  maxStaleness: Number(env.JWTWARDEN_MAX_STALENESS ?? 10),
  onError: (error) => console.warn(`jwtwarden: ${error.message}`),
});

const app = express();

// Unprotected: liveness, and readiness = revocations are current.
app.get("/healthz", (req, res) => res.json({ ok: true }));
app.get("/readyz", (req, res) => res.status(verifier.isFresh() ? 200 : 503).json({ fresh: verifier.isFresh() }));

// Everything below needs a valid, unrevoked access token.
app.use(jwtwarden(verifier));
app.get("/me", (req, res) => res.json({ sub: req.auth.sub, sid: req.auth.sid, roles: req.auth.roles }));
app.get("/admin/report", requireRoles("admin"), (req, res) => res.json({ report: "for admins", by: req.auth.sub }));

await verifier.ready();
const port = Number(env.PORT ?? 3000);
const server = app.listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${server.address().port}`));

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections?.();
    void verifier.close();
  });
}
