/** The process supervisor behind `npm start`: restart with backoff, clean stop, SIGKILL fallback. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Supervised } from "../../scripts/lib/supervisor";

const node = process.execPath;
const quiet = () => {};
/** running, not a zombie waiting to be reaped */
const alive = (pid: number | undefined) => {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
};

describe("Supervised", () => {
  it("restarts a crashing process with growing delays", async () => {
    const s = new Supervised({ name: "crash", command: node, args: ["-e", "process.exit(3)"], env: process.env, backoffMs: 100, maxBackoffMs: 400, log: quiet });
    const t0 = Date.now();
    s.start();
    while (s.restarts < 3 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 20));
    const elapsed = Date.now() - t0;
    await s.stop();
    expect(s.restarts).toBeGreaterThanOrEqual(3);
    // three restarts waited 100 + 200 + 400 ms at least (backoff doubles)
    expect(elapsed).toBeGreaterThanOrEqual(700);
    const n = s.restarts;
    await new Promise((r) => setTimeout(r, 600));
    expect(s.restarts).toBe(n); // stopped: no more restarts
  });

  it("stops a running process with SIGTERM", async () => {
    const s = new Supervised({ name: "idle", command: node, args: ["-e", "setInterval(() => {}, 1000)"], env: process.env, log: quiet });
    s.start();
    await new Promise((r) => setTimeout(r, 300));
    const pid = s.pid;
    expect(alive(pid)).toBe(true);
    await s.stop();
    expect(alive(pid)).toBe(false);
    expect(s.restarts).toBe(0);
  });

  it("kills a process that ignores SIGTERM after the grace period", async () => {
    const ready = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sup-")), "ready");
    const s = new Supervised({
      name: "stubborn",
      command: node,
      args: ["-e", "process.on('SIGTERM', () => {}); require('fs').writeFileSync(process.argv[1], 'x'); setInterval(() => {}, 1000)", ready],
      env: process.env,
      log: quiet,
    });
    s.start();
    while (!fs.existsSync(ready)) await new Promise((r) => setTimeout(r, 20));
    const pid = s.pid;
    const t0 = Date.now();
    await s.stop(500);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(alive(pid)).toBe(false);
  });

  it("leaves nothing of a crashed child behind (its own children die with it) before restarting", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sup-"));
    const gcFile = path.join(dir, "grandchild");
    // a wrapper process that starts the real server as its own child, like `tsx` or `npm exec`
    const wrapper = `const { spawn } = require("child_process"); const fs = require("fs");
      if (!fs.existsSync(process.argv[1])) { const gc = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" }); fs.writeFileSync(process.argv[1], String(gc.pid)); }
      setInterval(() => {}, 1000);`;
    const s = new Supervised({ name: "wrapper", command: node, args: ["-e", wrapper, gcFile], env: process.env, backoffMs: 100, log: quiet });
    s.start();
    let grandchild = 0;
    try {
      while (!fs.existsSync(gcFile)) await new Promise((r) => setTimeout(r, 20));
      grandchild = Number(fs.readFileSync(gcFile, "utf8"));
      expect(alive(grandchild)).toBe(true);
      process.kill(s.pid!, "SIGKILL"); // the wrapper crashes
      const t0 = Date.now();
      while (s.restarts < 1 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
      expect(s.restarts).toBe(1);
      expect(alive(grandchild)).toBe(false);
    } finally {
      await s.stop();
      if (alive(grandchild)) process.kill(grandchild, "SIGKILL");
    }
  });
});
