import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FIXTURES, ROOT, readJson } from "./engine-helpers";

const TSX = path.join(ROOT, "node_modules/.bin/tsx");
const MAIN = path.join(ROOT, "inference/cli/main.ts");
const cli = (...args: string[]) => spawnSync(TSX, [MAIN, ...args], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });

describe("cli generate (tiny-mistral fixture)", () => {
  const dir = path.join(FIXTURES, "tiny-mistral");
  const expected = readJson(path.join(dir, "expected.json"));
  let tmp: string;
  beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cli-gen-")); });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("runs every request concurrently and prints the golden greedy ids with their text", () => {
    const adapters = [null, "qv-r8", "all-r16", "mlp-r4-rs", "attn-r2"];
    const reqs = adapters.flatMap((a, k) => (expected.prompts as { ids: number[] }[]).map((p, i) => ({
      ids: p.ids,
      adapter: a === null ? null : path.join(dir, "adapters", a),
      max_new_tokens: 12,
      ignore_eos: true,
      _want: expected.runs[a ?? "__base__"][i].greedy,
      _k: k,
    })));
    const file = path.join(tmp, "requests.json");
    fs.writeFileSync(file, JSON.stringify(reqs));
    const r = cli("generate", "--model", path.join(dir, "base"), "--requests", file);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!) as { ids: number[]; text: string }[];
    expect(out).toHaveLength(reqs.length);
    out.forEach((o, i) => {
      expect(o.ids, `request ${i}`).toEqual(reqs[i]!._want);
      expect(typeof o.text).toBe("string");
    });
    expect(out[0]!.text.length).toBeGreaterThan(0);
  });

  it("takes the sampling fields; a seed reproduces (reference backend)", () => {
    const file = path.join(tmp, "sampled.json");
    const p = expected.prompts[0].ids;
    fs.writeFileSync(file, JSON.stringify([
      { ids: p, adapter: null, max_new_tokens: 8, temperature: 0.8, top_k: 20, top_p: 0.9, repetition_penalty: 1.1, seed: 7 },
      { ids: p, adapter: null, max_new_tokens: 8, temperature: 0.8, top_k: 20, top_p: 0.9, repetition_penalty: 1.1, seed: 7 },
    ]));
    const r = cli("generate", "--model", path.join(dir, "base"), "--requests", file, "--backend", "reference");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out[0].ids).toEqual(out[1].ids);
    expect(out[0].ids.length).toBeGreaterThan(0);
  });

  it("bad arguments exit with code 2 and a one-line message", () => {
    const noReq = cli("generate", "--model", path.join(dir, "base"));
    expect(noReq.status).toBe(2);
    expect(noReq.stderr.trim().split("\n")).toHaveLength(1);
    expect(noReq.stderr).toMatch(/--requests/);
    const bad = path.join(tmp, "bad.json");
    fs.writeFileSync(bad, JSON.stringify([{ ids: [1, 2], max_new_tokens: "ten" }]));
    const r = cli("generate", "--model", path.join(dir, "base"), "--requests", bad);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/request 0: max_new_tokens/);
    expect(cli("generate", "--model", "x", "--requests", bad, "--frobnicate").status).toBe(2);
    const noModel = cli("generate", "--model", path.join(tmp, "nothing"), "--requests", bad);
    expect(noModel.status).toBe(2);
    expect(noModel.stderr).toMatch(/not a model directory/);
    expect(cli("generate", "--model", "x", "--requests", "/nonexistent.json").status).toBe(2);
  });
});
