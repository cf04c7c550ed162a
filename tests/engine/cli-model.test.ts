import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const FIX = path.join(ROOT, "tests/data/fixtures/tiny-mistral");
const run = promisify(execFile);
const tmp = mkdtempSync(path.join(os.tmpdir(), "cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "inference/cli/main.ts", ...args], { cwd: ROOT, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("cli tokenize / logits", () => {
  const expected = JSON.parse(readFileSync(path.join(FIX, "expected.json"), "utf8"));

  it("tokenize prints one JSON line with the special tokens added", async () => {
    const c = expected.tokenizer[1];
    const r = await cli(["tokenize", "--model", path.join(FIX, "base"), "--text", c.text]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toEqual({ ids: c.ids });
  });

  it("logits runs a mixed batch in one pass and prints rows in request order", async () => {
    const file = path.join(tmp, "req.json");
    const ids = expected.prompts[2].ids;
    writeFileSync(file, JSON.stringify([
      { ids, adapter: path.join(FIX, "adapters/qv-r8") },
      { ids, adapter: null },
      { ids: expected.prompts[0].ids, adapter: path.join(FIX, "adapters/all-r16") },
    ]));
    const r = await cli(["logits", "--model", path.join(FIX, "base"), "--requests", file]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { last_logits: number[] }[];
    const refs = [expected.runs["qv-r8"][2], expected.runs.__base__[2], expected.runs["all-r16"][0]];
    out.forEach((row, i) => {
      const err = Math.max(...row.last_logits.map((v, j) => Math.abs(v - refs[i].last_logits[j])));
      expect(err).toBeLessThan(1e-3);
    });
  });

  it("bad arguments exit 2 with a one-line message", async () => {
    for (const args of [["tokenize", "--model", FIX], ["logits", "--model", path.join(FIX, "base"), "--requests", "/nonexistent.json"], ["tokenize", "--bogus", "x"], ["nonsense"]]) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});
