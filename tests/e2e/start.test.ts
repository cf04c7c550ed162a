/**
 * `npm start` (scripts/start.ts) as a user runs it: two instances side by side with their own
 * ports and data directories, each migrating and seeding its own database and serving the
 * catalog; SIGTERM stops each with its children, exit code 0.
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
  dataDir: string;
  out: () => string;
}

async function launch(): Promise<Instance> {
  const port = await freePort();
  const workerPort = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-start-"));
  const env = { ...process.env, PORT: String(port), WORKER_PORT: String(workerPort), DATA_DIR: dataDir };
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
  return { child, port, dataDir, out: () => out };
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

  it("runs two instances side by side and stops each on SIGTERM", async () => {
    instances.push(await launch(), await launch());
    const pages = await Promise.all(instances.map((i) => waitForPage(i)));
    for (const [n, i] of instances.entries()) {
      expect(pages[n]).toContain('data-slug="conllpp"');
      expect(fs.existsSync(path.join(i.dataDir, "pglite", "PG_VERSION"))).toBe(true);
      expect(i.out()).toContain("[db] migrated and seeded (pglite");
    }
    for (const i of instances) {
      const exited = new Promise<number | null>((r) => i.child.once("exit", (code) => r(code)));
      process.kill(i.child.pid!, "SIGTERM");
      expect(await exited).toBe(0);
      expect(await portClosed(i.port)).toBe(true);
    }
  });
});
