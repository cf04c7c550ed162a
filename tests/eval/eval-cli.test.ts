/** `npm run eval` argument and environment errors: exit code 2 (usage) or 1, one clear line. */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");

function evalCli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), path.join(ROOT, "scripts/eval.ts"), ...args], {
    cwd: ROOT,
    env: { ...process.env, INFERENCE_URL: "http://127.0.0.1:9", ...env },
    encoding: "utf8",
    // each run starts tsx on scripts/eval.ts: seconds on a loaded machine
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("npm run eval: bad input", () => {
  it("usage errors name the option and exit 2", { timeout: 600_000 }, () => {
    const limit = evalCli(["--limit", "0"]);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toMatch(/--limit must be a positive integer \(got "0"\)/);
    const concurrency = evalCli(["--concurrency", "x"]);
    expect(concurrency.code).toBe(2);
    expect(concurrency.stderr).toMatch(/--concurrency must be a positive integer/);
    const unknown = evalCli(["--bogus"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--bogus'/);
    const adapter = evalCli(["--adapters", "sql,nope"]);
    expect(adapter.code).toBe(2);
    expect(adapter.stderr).toMatch(/--adapters: no task card for nope/);
    const task = evalCli(["--adapters", "mine:nope"]);
    expect(task.code).toBe(2);
    expect(task.stderr).toMatch(/no task card for nope .*id:task/);
  });

  it("a bad environment or an INFERENCE_URL where nothing answers is a clear error, and nothing is printed on stdout", { timeout: 300_000 }, () => {
    const env = evalCli(["--limit", "1"], { INFERENCE_PROTOCOL: "grpc" });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/INFERENCE_PROTOCOL must be lorax or openai/);
    const offline = evalCli(["--adapters", "sql", "--limit", "1", "--json"]);
    expect(offline.code).toBe(1);
    expect(offline.stderr).toMatch(/INFERENCE_URL: nothing answers at http:\/\/127\.0\.0\.1:9/);
    expect(offline.stdout).toBe("");
  });
});
