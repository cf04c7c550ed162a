/**
 * `cli logits --device gpu` end to end in its own process: the transformers logits of a mixed
 * adapter batch, the `device: webgpu (...)` line, and the process exits by itself after printing
 * (Dawn's device and instance released; a hang would fail the test at its timeout).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { openTestGpu, reportMissingGpu } from "./gpu-test-backend";

const ROOT = path.resolve(import.meta.dirname, "../..");
const FIX = path.join(ROOT, "tests/data/fixtures/tiny-mistral");
const run = promisify(execFile);
const tmp = mkdtempSync(path.join(os.tmpdir(), "cli-gpu-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// probe only (closed at once): the device under test lives in the child process
const probe = await openTestGpu();
probe.be?.close();
if (!probe.be) reportMissingGpu(probe.reason);

describe.runIf(probe.be)("cli logits --device gpu", () => {
  it("prints the reference logits, says which device, and exits", async () => {
    const expected = JSON.parse(readFileSync(path.join(FIX, "expected.json"), "utf8"));
    const ids = expected.prompts[2].ids;
    const file = path.join(tmp, "req.json");
    writeFileSync(file, JSON.stringify([{ ids, adapter: path.join(FIX, "adapters/qv-r8") }, { ids, adapter: null }]));
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "inference/cli/main.ts", "logits", "--model", path.join(FIX, "base"),
      "--requests", file, "--device", "gpu", "--dtype", "f32"], { cwd: ROOT, maxBuffer: 64 << 20, timeout: 110_000 });
    expect(stderr).toMatch(/^device: webgpu \(.+\)$/m);
    const rows = JSON.parse(stdout) as { last_logits: number[] }[];
    const want = [expected.runs["qv-r8"][2].last_logits, expected.runs.__base__[2].last_logits];
    rows.forEach((row, i) => {
      let worst = 0;
      row.last_logits.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - want[i][j])); });
      expect(worst).toBeLessThan(1e-3);
    });
  });

  it("--device with an unknown value exits 2 naming the option", async () => {
    const err = await run(process.execPath, ["--import", "tsx", "inference/cli/main.ts", "logits", "--model", path.join(FIX, "base"),
      "--requests", "x.json", "--device", "tpu"], { cwd: ROOT }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr).toMatch(/--device must be one of auto, cpu, gpu/);
  });

  it("generate --gpu-memory-fraction out of (0, 1] exits 2 naming the option (and GPU_MEMORY_FRACTION likewise)", async () => {
    const args = ["--import", "tsx", "inference/cli/main.ts", "generate", "--model", path.join(FIX, "base"), "--requests", "x.json", "--device", "gpu"];
    const bad = await run(process.execPath, [...args, "--gpu-memory-fraction", "1.5"], { cwd: ROOT }).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).toBe(2);
    expect((bad as { stderr: string }).stderr).toMatch(/option --gpu-memory-fraction must be a number in \(0, 1\], got "1\.5"/);
    const env = await run(process.execPath, args, { cwd: ROOT, env: { ...process.env, GPU_MEMORY_FRACTION: "x" } }).catch((e: { code: number; stderr: string }) => e);
    expect((env as { code: number }).code).toBe(2);
    expect((env as { stderr: string }).stderr).toMatch(/GPU_MEMORY_FRACTION must be a number in \(0, 1\], got "x"/);
  });
});
