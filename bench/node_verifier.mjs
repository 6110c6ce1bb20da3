// Node verifier benchmark (clients/node): `verifier.verify` against jose's
// bare `jwtVerify` on the same EdDSA token and key, and revocation
// propagation from the revoking API call to rejection in this process.
//
//   (cd clients/node && npm ci) && node bench/node_verifier.mjs [--quick]
//
// Throughput (ROUNDS paired rounds, the order alternating; the ratios are
// the medians of the per-round ratios, reported per second of wall time and
// per second of this process's CPU time, the steadier figure on a shared,
// noisy machine):
// - bare: jose `jwtVerify` with the key, issuer, audience, typ and alg
//   checks, no revocation at all;
// - cold: the verified-token cache off (`cacheSize: 0`): header, signature,
//   claims, staleness, and a revocation view of 100,000 denied jtis and
//   10,000 user cutoffs loaded from a feed snapshot. Target >= 1.0x bare;
// - seen before: the token is in the cache: expiry, staleness and the same
//   view are still checked, the signature and the JSON are not. Target >= 20x.
//
// Propagation: a local `jwtwarden serve` (SQLite, 127.0.0.1 only; the
// executable is $JWTWARDEN_BIN or the repository's .venv), 1,000 sessions,
// then 1,000 logouts one after the other; for each, the time from sending
// `POST /logout` to this process's verifier rejecting the session's token.
// Target p99 <= 50 ms. The whole run is bounded (about a minute).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkg = path.join(root, "clients/node");
const { createVerifier } = await import(pathToFileURL(path.join(pkg, "dist/index.js")));
const jose = await import(pathToFileURL(path.join(pkg, "node_modules/jose/dist/webapi/index.js")));
const { startServer } = await import(pathToFileURL(path.join(pkg, "test/support/server.mjs")));

const QUICK = process.argv.includes("--quick");
const ROUNDS = QUICK ? 5 : 15;
const ISSUER = "http://127.0.0.1:8000";
const DENIED = 100_000;
const CUTOFFS = 10_000;
const REVOCATIONS = QUICK ? 200 : 1_000;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];

// A feed that answers like jwtwarden's: metadata, JWKS, and /revocations
// with one big snapshot then a heartbeat a second, served in this process
// (no socket) so the throughput rounds measure the verifier only.
function fakeServer(jwk) {
  const now = Date.now() / 1000;
  const denied = {};
  for (let i = 0; i < DENIED; i++) denied[`denied-${i}`] = now + 300;
  const users = {};
  for (let i = 0; i < CUTOFFS; i++) {
    users[`user-${i}`] = { revocation: { cutoff_at: now - 10, keep_sid: null, banned_until: null }, forget_at: now + 300 };
  }
  const snapshot = JSON.stringify({ position: "1", denied, sessions: {}, users, store_cutoff: null });
  const json = (body) => new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } });
  return async (url, init) => {
    const u = new URL(url);
    if (u.pathname === "/.well-known/oauth-authorization-server") {
      return json({ issuer: ISSUER, jwks_uri: `${ISSUER}/.well-known/jwks.json` });
    }
    if (u.pathname === "/.well-known/jwks.json") return json({ keys: [jwk] });
    const encoder = new TextEncoder();
    let timer;
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(encoder.encode(`event: snapshot\nid: 1\ndata: ${snapshot}\n\n`));
        const beat = () => controller.enqueue(encoder.encode('event: heartbeat\ndata: {"position":"1","fresh":true}\n\n'));
        beat();
        timer = setInterval(beat, 1000);
        init?.signal?.addEventListener("abort", () => {
          clearInterval(timer);
          controller.error(init.signal.reason);
        });
      },
      cancel() {
        clearInterval(timer);
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  };
}

/** Calls per second of wall time, and per second of this process's CPU
 * time (all its threads: WebCrypto runs off the main one). On a shared
 * machine the CPU figure is the steadier of the two. */
async function callsPerSecond(fn, n) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const wall = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { wall: n / wall, cpu: n / ((used.user + used.system) / 1e6) };
}

async function throughput() {
  const { publicKey, privateKey } = await jose.generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: "k1", alg: "EdDSA", use: "sig" };
  const now = Date.now() / 1000;
  const token = await new jose.SignJWT({
    iss: ISSUER, sub: "b3bc55a6-54a6-489f-b072-879133d0b3c4", aud: "jwtwarden",
    exp: Math.floor(now) + 3600, iat: now - 1, auth_time: now - 1,
    jti: "zMXyNGFsfQV3MLmDPByffg", sid: "eIwccFWCd_cI3NDfU-z9og", client_id: "jwtwarden", roles: ["admin"],
  }).setProtectedHeader({ alg: "EdDSA", kid: "k1", typ: "at+jwt" }).sign(privateKey);

  const options = { issuer: ISSUER, audience: "jwtwarden", clientId: "rs", clientSecret: "s", fetch: fakeServer(jwk) };
  const cold = createVerifier({ ...options, cacheSize: 0 });
  const warm = createVerifier(options);
  await Promise.all([cold.ready(60_000), warm.ready(60_000)]);
  if (cold.view.size !== DENIED + CUTOFFS) throw new Error(`view holds ${cold.view.size}`);
  const bareOptions = { issuer: ISSUER, audience: "jwtwarden", typ: "at+jwt", algorithms: ["EdDSA"] };
  const bare = () => jose.jwtVerify(token, publicKey, bareOptions);
  await bare();
  await cold.verify(token);
  await warm.verify(token);

  // Paired rounds, the order alternating: each round's ratio compares runs
  // made seconds apart, which cancels most of the drift of a shared machine.
  const results = { bare: [], cold: [], warm: [] };
  const n = QUICK ? 500 : 1000;
  for (let round = 0; round < ROUNDS; round++) {
    const pair = [
      ["bare", () => callsPerSecond(bare, n)],
      ["cold", () => callsPerSecond(() => cold.verify(token), n)],
    ];
    if (round % 2) pair.reverse();
    for (const [name, run] of pair) results[name].push(await run());
    results.warm.push(await callsPerSecond(() => warm.verify(token), n * 100));
  }
  await Promise.all([cold.close(), warm.close()]);
  const summary = (clock) => {
    const rate = (name) => results[name].map((r) => r[clock]);
    const ratio = (name) => rate(name).map((x, i) => x / rate("bare")[i]);
    return {
      bare_jwtVerify_per_s: Math.round(median(rate("bare"))),
      cold_per_s: Math.round(median(rate("cold"))),
      seen_before_per_s: Math.round(median(rate("warm"))),
      cold_ratio: +median(ratio("cold")).toFixed(2),
      cold_ratio_range: [+Math.min(...ratio("cold")).toFixed(2), +Math.max(...ratio("cold")).toFixed(2)],
      seen_before_ratio: +median(ratio("warm")).toFixed(1),
    };
  };
  return { rounds: ROUNDS, view: { denied: DENIED, cutoffs: CUTOFFS }, cpu_time: summary("cpu"), wall_clock: summary("wall") };
}

async function propagation() {
  const server = await startServer();
  const verifier = await server.verifier({ maxStaleness: 30 });
  const deadline = Date.now() + 90_000;
  try {
    const sessions = [];
    for (let i = 0; i < REVOCATIONS && Date.now() < deadline; i++) sessions.push((await server.login()).access_token);
    for (const token of sessions) await verifier.verify(token);
    const samples = [];
    for (const token of sessions) {
      if (Date.now() > deadline) break;
      const start = performance.now();
      const logout = fetch(`${server.url}/logout`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
      for (;;) {
        try {
          await verifier.verify(token);
        } catch (error) {
          if (error.kind !== "SessionRevoked") throw error;
          break;
        }
        if (performance.now() - start > 5000) throw new Error("not rejected within 5 s");
        await new Promise((resolve) => setImmediate(resolve));
      }
      samples.push(performance.now() - start);
      const r = await logout;
      if (r.status !== 204) throw new Error(`logout answered ${r.status}`);
    }
    return {
      revocations: samples.length,
      p50_ms: +percentile(samples, 50).toFixed(2),
      p99_ms: +percentile(samples, 99).toFixed(2),
      max_ms: +Math.max(...samples).toFixed(2),
      feed_connections: verifier.feed.connections,
    };
  } finally {
    await verifier.close();
    await server.stop();
    fs.rmSync(server.dir, { recursive: true, force: true });
  }
}

const report = { node: process.version, throughput: await throughput(), propagation: await propagation() };
console.log(JSON.stringify(report, null, 2));
const t = report.throughput.cpu_time;
const p = report.propagation;
console.log(
  `per CPU second: cold ${t.cold_ratio}x bare jwtVerify (target >= 1.0), seen before ${t.seen_before_ratio}x (target >= 20); ` +
    `propagation p50 ${p.p50_ms} ms, p99 ${p.p99_ms} ms over ${p.revocations} revocations (target p99 <= 50 ms)`,
);
