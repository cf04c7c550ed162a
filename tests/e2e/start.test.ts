/**
 * `npm start` (scripts/start.ts) as a user runs it: two instances side by side with their own
 * ports and data directories, each migrating and seeding its own database, serving the catalog
 * and running its own worker; a killed worker is restarted; SIGTERM stops each with its
 * children, exit code 0.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureWebBuild, freePort, ROOT } from "./browser";

interface Instance {
  child: ChildProcess;
  port: number;
  workerPort: number;
  dataDir: string;
  out: () => string;
}

async function launch(): Promise<Instance> {
  const port = await freePort();
  const workerPort = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-start-"));
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), WORKER_PORT: String(workerPort), DATA_DIR: dataDir };
  delete env.DATABASE_URL;
  delete env.INFERENCE_URL;
  const child = spawn(process.execPath, [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), "scripts/start.ts"], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return { child, port, workerPort, dataDir, out: () => out };
}

async function waitForPage(i: Instance, timeoutMs = 180_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (i.child.exitCode !== null) throw new Error(`npm start exited ${i.child.exitCode}:\n${i.out()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${i.port}/`, { signal: AbortSignal.timeout(10_000) });
      if (res.ok) return await res.text();
    } catch {}
    if (Date.now() > deadline) throw new Error(`no page on ${i.port}:\n${i.out()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const hasWorker = fs.existsSync(path.join(ROOT, "inference/cli/serve.ts"));

/** pid of the worker this instance started (its command line names its port) */
function workerPid(i: Instance): number | null {
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (cmd.includes("serve") && cmd[cmd.indexOf("--port") + 1] === String(i.workerPort)) return Number(pid);
    } catch {}
  }
  return null;
}

async function workerHealth(i: Instance): Promise<{ online: boolean; ready: boolean }> {
  const res = await fetch(`http://127.0.0.1:${i.port}/api/trpc/status.health`);
  return ((await res.json()) as { result: { data: { json: { online: boolean; ready: boolean } } } }).result.data.json;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function portClosed(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
    return false;
  } catch {
    return true;
  }
}

describe("npm start", () => {
  const instances: Instance[] = [];
  beforeAll(async () => {
    await ensureWebBuild();
  });
  afterAll(async () => {
    for (const i of instances) {
      try {
        process.kill(-i.child.pid!, "SIGKILL");
      } catch {}
      fs.rmSync(i.dataDir, { recursive: true, force: true });
    }
  });

  // two web servers + two workers starting together on 2 cores: minutes on a busy machine
  it("runs two instances side by side and stops each on SIGTERM", { timeout: 480_000 }, async () => {
    instances.push(await launch(), await launch());
    const pages = await Promise.all(instances.map((i) => waitForPage(i)));
    for (const [n, i] of instances.entries()) {
      expect(pages[n]).toContain('data-slug="conllpp"');
      expect(fs.existsSync(path.join(i.dataDir, "pglite", "PG_VERSION"))).toBe(true);
      expect(i.out()).toContain("[db] migrated and seeded (pglite");
    }
    if (hasWorker) {
      // each instance runs its own worker; a crashed worker is restarted and the app sees it again
      const [a, b] = instances;
      await until("both workers ready", async () => (await workerHealth(a!)).ready && (await workerHealth(b!)).ready);
      const before = workerPid(a!);
      expect(before).not.toBeNull();
      process.kill(before!, "SIGKILL");
      await until("a new worker process", async () => {
        const now = workerPid(a!);
        return now !== null && now !== before;
      });
      await until("the restarted worker ready", async () => (await workerHealth(a!)).ready);
      expect(a!.out()).toMatch(/\[worker\] exited \(SIGKILL\).*restarting/);
      expect((await workerHealth(b!)).ready).toBe(true);
    } else {
      process.stderr.write("\n!!!!! start.test: inference/cli/serve.ts missing, worker supervision not tested !!!!!\n");
    }
    for (const i of instances) {
      const workers = workerPid(i);
      const exited = new Promise<number | null>((r) => i.child.once("exit", (code) => r(code)));
      process.kill(i.child.pid!, "SIGTERM");
      expect(await exited).toBe(0);
      expect(await portClosed(i.port)).toBe(true);
      if (workers) expect(await portClosed(i.workerPort)).toBe(true);
    }
  });

  it("refuses a bad setting or a busy port at once, with a message naming it", async () => {
    const run = (env: Record<string, string>) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), "scripts/start.ts"], {
          cwd: ROOT,
          env: { ...process.env, ...env },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        child.stdout!.on("data", (d) => (out += d));
        child.stderr!.on("data", (d) => (out += d));
        child.on("exit", (code) => resolve({ code, out }));
      });
    const bad = await run({ PORT: "3000", WORKER_PORT: "nope" });
    expect(bad.code).toBe(2);
    expect(bad.out).toContain("WORKER_PORT must be a number");

    const busy = await freePort();
    const net = await import("node:net");
    const holder = net.createServer().listen(busy);
    await new Promise((r) => holder.once("listening", r));
    try {
      const res = await run({ PORT: String(busy), WORKER_PORT: String(await freePort()), DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "loraland-busy-")) });
      expect(res.code).toBe(2);
      expect(res.out).toContain(`PORT ${busy} is already in use`);
    } finally {
      holder.close();
    }
  });
});
