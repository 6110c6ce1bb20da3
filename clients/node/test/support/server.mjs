// A real `jwtwarden serve` for the Node tests: a SQLite store in a fresh
// temporary directory, users alice and root (admin), a free loopback port.
// The executable is $JWTWARDEN_BIN (the pytest wrapper sets it), else the
// repository's .venv, else `jwtwarden` on PATH.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { createVerifier } from "../../dist/index.js";

export const PASSWORD = "correct horse battery";
const here = path.dirname(fileURLToPath(import.meta.url));
const venvBin = path.resolve(here, "../../../../.venv/bin/jwtwarden");

export function jwtwardenBin() {
  if (process.env.JWTWARDEN_BIN) return process.env.JWTWARDEN_BIN;
  return fs.existsSync(venvBin) ? venvBin : "jwtwarden";
}

const CHEAP_ARGON2 = {
  JWTWARDEN_ARGON2_TIME_COST: "1",
  JWTWARDEN_ARGON2_MEMORY_COST: "8",
  JWTWARDEN_ARGON2_PARALLELISM: "1",
};

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Server {
  constructor(dir, env) {
    this.dir = dir;
    this.env = { ...process.env, ...CHEAP_ARGON2, ...env };
    this.proc = null;
    this.port = null;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Run a jwtwarden CLI command on this server's store; its stdout. */
  cli(args, input) {
    return execFileSync(jwtwardenBin(), args, { cwd: this.dir, env: this.env, input, encoding: "utf8", timeout: 60_000 });
  }

  /** New resource-server credentials. */
  client(name = `rs-${process.hrtime.bigint()}`) {
    const { client_id, client_secret } = JSON.parse(this.cli(["clients", "add", name]));
    return { clientId: client_id, clientSecret: client_secret };
  }

  async start(port) {
    const fixed = port ?? this.port;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOn(fixed ?? (await freePort()));
      } catch (error) {
        // A free port can be taken by someone else before serve binds it.
        if (fixed !== null && fixed !== undefined || attempt === 3 || !/serve exited/.test(error.message)) throw error;
      }
    }
  }

  async startOn(port) {
    this.port = port;
    const log = fs.openSync(path.join(this.dir, `serve-${this.port}.log`), "a");
    this.proc = spawn(jwtwardenBin(), ["serve", "--port", String(this.port)], {
      cwd: this.dir,
      env: this.env,
      stdio: ["ignore", log, log],
    });
    fs.closeSync(log);
    const exited = new Promise((resolve) => this.proc.once("exit", resolve));
    this.exited = exited;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`serve exited: ${this.log()}`);
      try {
        const r = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(1000) });
        if (r.status === 200) return this;
      } catch {}
      await sleep(50); // polling a real process for readiness
    }
    throw new Error(`serve did not start: ${this.log()}`);
  }

  async stop() {
    if (this.proc === null) return;
    this.proc.kill("SIGTERM");
    await this.exited;
    this.proc = null;
  }

  log() {
    try {
      return fs.readdirSync(this.dir).filter((f) => f.startsWith("serve-")).map((f) => fs.readFileSync(path.join(this.dir, f), "utf8")).join("\n");
    } catch {
      return "";
    }
  }

  async login(user = "alice") {
    const r = await fetch(`${this.url}/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "password", username: user, password: PASSWORD }),
    });
    if (r.status !== 200) throw new Error(`login ${r.status}: ${await r.text()}`);
    return r.json();
  }

  async post(pathname, { token, json, form, method = "POST" } = {}) {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    let body;
    if (json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = new URLSearchParams(form);
    }
    const r = await fetch(this.url + pathname, { method, headers, body });
    await r.arrayBuffer();
    return r.status;
  }

  /** A started verifier following this server's feed. */
  async verifier(options = {}) {
    const verifier = createVerifier({ issuer: this.url, audience: "jwtwarden", ...this.client(), ...options });
    await verifier.ready();
    return verifier;
  }
}

/** A server in a new temporary directory with alice and root. */
export async function startServer(env = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jwtwarden-node-"));
  const server = new Server(dir, env);
  server.cli(["users", "add", "alice", "--password-stdin"], `${PASSWORD}\n`);
  server.cli(["users", "add", "root", "--role", "admin", "--password-stdin"], `${PASSWORD}\n`);
  return server.start();
}

/** Seconds until `verifier` rejects `token` with an error of `kind`. */
export async function rejectedWithin(verifier, token, kind, seconds = 3) {
  const start = performance.now();
  let last;
  while (performance.now() - start < seconds * 1000) {
    try {
      await verifier.verify(token);
      last = "accepted";
    } catch (error) {
      if (error.kind === kind) return (performance.now() - start) / 1000;
      last = error.kind ?? String(error);
    }
    await sleep(2); // waiting on another process
  }
  throw new Error(`${kind} not raised within ${seconds}s (last: ${last})`);
}
