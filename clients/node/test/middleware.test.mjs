// The Express middleware, the Fastify hook and plugin and the NestJS guard,
// each in a small app on a real jwtwarden server: 200 with the claims, 401
// with WWW-Authenticate for a missing or bad token, 403 for a missing role,
// 503 with Retry-After when revocations are stale.
import "reflect-metadata";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import express from "express";
import Fastify from "fastify";
import { Controller, Get, Module, Req } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";

import { createVerifier } from "../dist/index.js";
import { jwtwarden, requireRoles } from "../dist/express.js";
import { jwtwardenHook, jwtwardenPlugin } from "../dist/fastify.js";
import { JwtWardenGuard, Public, Roles } from "../dist/nest.js";
import { rejectedWithin, startServer } from "./support/server.mjs";

let server, verifier, stale, alice, root;

before(async () => {
  server = await startServer();
  verifier = await server.verifier();
  // Wrong credentials: its feed never confirms anything, so it is stale.
  stale = createVerifier({ issuer: server.url, audience: "jwtwarden", clientId: "rs_x", clientSecret: "nope" });
  alice = (await server.login()).access_token;
  root = (await server.login("root")).access_token;
});

after(async () => {
  await verifier?.close();
  await stale?.close();
  await server?.stop();
});

function listen(app) {
  return new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
}

async function get(base, path, token, extra = {}) {
  const headers = token ? { authorization: `Bearer ${token}`, ...extra } : extra;
  const r = await fetch(base + path, { headers });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
}

/** The behaviour every integration shares; `paths` names its routes. */
async function behaves(base, staleBase) {
  const ok = await get(base, "/me", alice);
  assert.equal(ok.status, 200);
  assert.equal(typeof ok.body.sub, "string");

  const missing = await get(base, "/me");
  assert.equal(missing.status, 401);
  assert.match(missing.headers.get("www-authenticate"), /^Bearer realm="jwtwarden", error="invalid_token"/);
  assert.equal(missing.body.error, "invalid_token");

  const bad = await get(base, "/me", alice.slice(0, -4) + "AAAA");
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get("www-authenticate"), /error="invalid_token", error_description="The access token signature is invalid."/);

  const forbidden = await get(base, "/admin", alice);
  assert.equal(forbidden.status, 403);
  assert.match(forbidden.headers.get("www-authenticate"), /error="insufficient_scope"/);
  assert.equal(forbidden.body.error, "insufficient_scope");
  assert.equal((await get(base, "/admin", root)).status, 200);

  const unavailable = await get(staleBase, "/me", alice);
  assert.equal(unavailable.status, 503);
  assert.ok(Number(unavailable.headers.get("retry-after")) >= 1);
  assert.equal(unavailable.headers.get("www-authenticate"), null, "stale is not a bad token");
  assert.equal(unavailable.body.error, "temporarily_unavailable");
  assert.equal((await get(staleBase, "/me", "x.y.z")).status, 401, "a bad token is still 401 when stale");
}

describe("express", () => {
  const servers = [];
  after(() => servers.forEach((s) => s.close()));

  function app(v) {
    const app = express();
    app.get("/health", (req, res) => res.json({ ok: true }));
    app.use(jwtwarden(v));
    app.get("/me", (req, res) => res.json(req.auth));
    app.get("/admin", requireRoles("admin"), (req, res) => res.json({ admin: req.auth.sub }));
    return app;
  }

  test("401, 403, 503 and the claims on req.auth", async () => {
    const s = await listen(app(verifier));
    const t = await listen(app(stale));
    servers.push(s, t);
    await behaves(`http://127.0.0.1:${s.address().port}`, `http://127.0.0.1:${t.address().port}`);
    assert.equal((await get(`http://127.0.0.1:${s.address().port}`, "/health")).status, 200);
  });

  test("a revoked token is refused within the feed bound", async () => {
    const s = await listen(app(verifier));
    servers.push(s);
    const base = `http://127.0.0.1:${s.address().port}`;
    const t = await server.login();
    assert.equal((await get(base, "/me", t.access_token)).status, 200);
    await server.post("/logout", { token: t.access_token });
    await rejectedWithin(verifier, t.access_token, "SessionRevoked");
    const r = await get(base, "/me", t.access_token);
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate"), /The session of this access token has ended/);
  });

  test("the access cookie is read only when asked", async () => {
    const withCookies = express();
    withCookies.use(jwtwarden(verifier, { cookies: "insecure" }));
    withCookies.get("/me", (req, res) => res.json(req.auth));
    const s = await listen(withCookies);
    const plain = await listen(app(verifier));
    servers.push(s, plain);
    const cookie = { cookie: `other=1; jwtwarden-at=${alice}` };
    assert.equal((await get(`http://127.0.0.1:${s.address().port}`, "/me", null, cookie)).status, 200);
    assert.equal((await get(`http://127.0.0.1:${plain.address().port}`, "/me", null, cookie)).status, 401);
  });
});

describe("fastify", () => {
  const apps = [];
  after(() => Promise.all(apps.map((a) => a.close())));

  async function start(v) {
    const app = Fastify();
    await app.register(jwtwardenPlugin, { verifier: v });
    app.get("/me", async (request) => request.auth);
    app.get("/admin", { onRequest: jwtwardenHook(v, { roles: ["admin"] }) }, async (request) => ({ admin: request.auth.sub }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    apps.push(app);
    return `http://127.0.0.1:${app.server.address().port}`;
  }

  test("401, 403, 503 and the claims on request.auth", async () => {
    await behaves(await start(verifier), await start(stale));
  });

  test("a route-level hook protects only its routes", async () => {
    const app = Fastify();
    app.get("/open", async () => ({ open: true }));
    app.get("/me", { onRequest: jwtwardenHook(verifier) }, async (request) => request.auth);
    await app.listen({ port: 0, host: "127.0.0.1" });
    apps.push(app);
    const base = `http://127.0.0.1:${app.server.address().port}`;
    assert.equal((await get(base, "/open")).status, 200);
    assert.equal((await get(base, "/me")).status, 401);
    assert.equal((await get(base, "/me", alice)).status, 200);
  });
});

describe("nestjs", () => {
  const apps = [];
  after(() => Promise.all(apps.map((a) => a.close())));

  class Api {
    me(req) {
      return req.auth;
    }
    admin(req) {
      return { admin: req.auth.sub };
    }
    health() {
      return { ok: true };
    }
  }
  const method = (name) => Object.getOwnPropertyDescriptor(Api.prototype, name);
  Reflect.decorate([Get("me")], Api.prototype, "me", method("me"));
  Reflect.decorate([Get("admin"), Roles("admin")], Api.prototype, "admin", method("admin"));
  Reflect.decorate([Get("health"), Public()], Api.prototype, "health", method("health"));
  Req()(Api.prototype, "me", 0);
  Req()(Api.prototype, "admin", 0);
  Reflect.decorate([Controller()], Api);
  class AppModule {}
  Reflect.decorate([Module({ controllers: [Api] })], AppModule);

  async function start(v) {
    const app = await NestFactory.create(AppModule, { logger: false });
    app.useGlobalGuards(new JwtWardenGuard(v));
    await app.listen(0, "127.0.0.1");
    apps.push(app);
    return `http://127.0.0.1:${app.getHttpServer().address().port}`;
  }

  test("401, 403, 503 and @Public()", async () => {
    const base = await start(verifier);
    await behaves(base, await start(stale));
    assert.equal((await get(base, "/health")).status, 200);
  });
});
