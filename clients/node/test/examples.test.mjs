// The examples (examples/node/*), each installed, built and started the way
// its README says, then called with tokens from a real jwtwarden server.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

import { freePort, sleep, startServer } from "./support/server.mjs";

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../examples/node");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
let server, alice, root;

before(async () => {
  server = await startServer();
  alice = (await server.login()).access_token;
  root = (await server.login("root")).access_token;
});

after(() => server?.stop());

function run(dir, args) {
  execFileSync(npm, args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 180_000 });
}

/** `npm start` in `dir`; resolves with the base URL once it says "listening". */
async function start(dir) {
  const port = await freePort();
  const child = spawn(npm, ["start"], {
    cwd: dir,
    env: { ...process.env, JWTWARDEN_ISSUER: server.url, ...credentials(), PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group: npm and node stop together
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const deadline = Date.now() + 30_000;
  while (!output.includes("listening on")) {
    if (child.exitCode !== null || Date.now() > deadline) {
      process.kill(-child.pid, "SIGTERM");
      throw new Error(`example did not start:\n${output}`);
    }
    await sleep(50);
  }
  const stop = () => new Promise((resolve) => {
    child.once("exit", resolve);
    process.kill(-child.pid, "SIGTERM");
  });
  return { base: `http://127.0.0.1:${port}`, stop };
}

function credentials() {
  const { clientId, clientSecret } = server.client();
  return { JWTWARDEN_CLIENT_ID: clientId, JWTWARDEN_CLIENT_SECRET: clientSecret };
}

async function call(base, pathname, token) {
  const r = await fetch(base + pathname, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: r.status, body: await r.json(), challenge: r.headers.get("www-authenticate") };
}

async function exercise(base) {
  assert.equal((await call(base, "/healthz")).status, 200);
  const me = await call(base, "/me", alice);
  assert.equal(me.status, 200);
  assert.deepEqual(me.body.roles, []);
  const missing = await call(base, "/me");
  assert.equal(missing.status, 401);
  assert.match(missing.challenge, /error="invalid_token"/);
  assert.equal((await call(base, "/admin/report", alice)).status, 403);
  assert.equal((await call(base, "/admin/report", root)).status, 200);
  // A logout reaches the example through the feed.
  const t = (await server.login()).access_token;
  assert.equal((await call(base, "/me", t)).status, 200);
  await server.post("/logout", { token: t });
  const deadline = Date.now() + 3000;
  let status = 200;
  while (status === 200 && Date.now() < deadline) {
    status = (await call(base, "/me", t)).status;
    await sleep(5);
  }
  assert.equal(status, 401);
}

test("the Express example: npm ci, npm start", async () => {
  const dir = path.join(examples, "express_app");
  run(dir, ["ci", "--no-audit", "--no-fund"]);
  const app = await start(dir);
  try {
    await exercise(app.base);
  } finally {
    await app.stop();
  }
});

test("the NestJS example: npm ci, npm run build, npm start", async () => {
  const dir = path.join(examples, "nest_app");
  run(dir, ["ci", "--no-audit", "--no-fund"]);
  run(dir, ["run", "build"]);
  const app = await start(dir);
  try {
    await exercise(app.base);
  } finally {
    await app.stop();
  }
});
