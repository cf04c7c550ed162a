/**
 * The fault script (bench/fault/run.ts, `npm run fault`) in short: on PGlite, kill -9 the worker
 * and the web server under a tRPC generation load, restart them, and expect its table with no chat
 * lost, duplicated, stuck or wrongly marked (exit code 0). The full run, on Postgres too, is the
 * script's.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ensureWebBuild, ROOT } from "../e2e/browser";

describe("fault script (smoke)", () => {
  it("kill -9 of the worker and the web server under load on PGlite: nothing lost, duplicated, stuck or wrongly marked", { timeout: 300_000 }, async () => {
    await ensureWebBuild();
    // asynchronously: a blocked test process misses vitest's own messages
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench/fault/run.ts"), "--db", "pglite", "--clients", "2", "--phase-seconds", "3", "--tokens", "16"], { cwd: ROOT, timeout: 280_000 });
    const res = { stdout: "", stderr: "", status: null as number | null };
    child.stdout.on("data", (d: Buffer) => (res.stdout += d));
    child.stderr.on("data", (d: Buffer) => (res.stderr += d));
    res.status = await new Promise<number | null>((r) => child.once("close", (code) => r(code)));
    const out = `${res.stdout}\n${res.stderr}`;
    expect(res.stdout, out).toMatch(/\| \*\*all\*\* \| +\| \*\*\d+\*\* \|/);
    // starts were answered in every probe, so each one ran under load
    for (const probe of ["baseline", "worker kill -9", "web kill -9"]) expect(res.stdout, out).toMatch(new RegExp(`\\| ${probe} \\| [^|]+ \\| [1-9]\\d* \\|`));
    expect(res.status, out).toBe(0);
  });
});
