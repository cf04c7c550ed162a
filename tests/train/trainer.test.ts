/**
 * Training runs: reproducible from the seed, resumable from a checkpoint to the same weights,
 * and the CLI's smoke run on the bundled model (200 sentiment examples, one epoch: loss falls,
 * a PEFT folder our loader serves). The full sentiment proof is `npm run train` + `npm run eval`
 * (README), not part of the tests.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { loadPeftAdapter } from "../../inference/adapters/peft";
import { readModelConfig } from "../../inference/model/config";
import { validateConfig } from "../../inference/train/config";
import { TrainCancelled, train } from "../../inference/train/trainer";
import { FIXTURES, fixtureModel, ROOT } from "./helpers";

const run = promisify(execFile);
const tmp = mkdtempSync(path.join(os.tmpdir(), "train-run-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = path.join(FIXTURES, "tiny-llama/base");
const words = ["red", "green", "blue", "cat", "dog", "sun", "moon", "tree"];
const data = path.join(tmp, "tiny.jsonl");
writeFileSync(data, Array.from({ length: 40 }, (_, i) => JSON.stringify({ q: `${words[i % 8]} ${words[(i * 3) % 8]}`, output: words[(i * 5) % 8] })).join("\n"));

function tinyConfig(out: string) {
  return validateConfig({
    base_model: TINY, dataset: data, output_dir: out, prompt_template: "Q: {q}\nA:",
    adapter: { r: 4, alpha: 8, dropout: 0.1, target_modules: "all-linear" },
    trainer: { epochs: 2, learning_rate: 0.01, batch_size: 8, gradient_accumulation: 2, warmup_steps: 1, validation_split: 0.2, seed: 3, checkpoint_every: 1 },
  });
}

const file = (dir: string) => readFileSync(path.join(dir, "adapter_model.safetensors"));

describe("trainer", () => {
  it("is reproducible from its seed: same curve, same adapter bytes", async () => {
    const base = await fixtureModel(TINY);
    const a = await train(tinyConfig(path.join(tmp, "a")), { base, fresh: true });
    const b = await train(tinyConfig(path.join(tmp, "b")), { base, fresh: true });
    expect(a.steps).toBe(4); // 32 train rows: 4 micro-batches of 8 = 2 steps of 2 per epoch
    expect(a.curve.map((p) => p.loss)).toEqual(b.curve.map((p) => p.loss));
    expect(file(path.join(tmp, "a")).equals(file(path.join(tmp, "b")))).toBe(true);
    expect(a.val_examples).toBe(8);
    expect(a.val_loss).not.toBeNull();
    expect(existsSync(path.join(tmp, "a", "checkpoint"))).toBe(false);
  });

  it("resumes from its last checkpoint to the same weights as an uninterrupted run", async () => {
    const base = await fixtureModel(TINY);
    const whole = await train(tinyConfig(path.join(tmp, "whole")), { base, fresh: true });
    const out = path.join(tmp, "resumed");
    const ctl = new AbortController();
    await expect(train(tinyConfig(out), { base, fresh: true, signal: ctl.signal, onProgress: (p) => { if (p.step === 2) ctl.abort(); } })).rejects.toBeInstanceOf(TrainCancelled);
    expect(existsSync(path.join(out, "checkpoint", "state.json"))).toBe(true);
    const resumed = await train(tinyConfig(out), { base });
    expect(resumed.resumed_from_step).toBe(2);
    expect(resumed.curve.map((p) => p.loss)).toEqual(whole.curve.map((p) => p.loss));
    expect(file(out).equals(file(path.join(tmp, "whole")))).toBe(true);
  });

  it("refuses to resume a checkpoint of another config, naming output_dir", async () => {
    const base = await fixtureModel(TINY);
    const out = path.join(tmp, "other");
    const ctl = new AbortController();
    await expect(train(tinyConfig(out), { base, fresh: true, signal: ctl.signal, onProgress: () => ctl.abort() })).rejects.toBeInstanceOf(TrainCancelled);
    const changed = tinyConfig(out);
    changed.trainer.learning_rate = 0.02;
    await expect(train(changed, { base })).rejects.toMatchObject({ field: "output_dir" });
  });
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "scripts/train.ts", ...args], { cwd: ROOT, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("npm run train (CLI)", () => {
  it("smoke run on the bundled model: 200 sentiment examples, one epoch — loss falls, the PEFT folder loads", async () => {
    const cfg = path.join(tmp, "smoke.yaml");
    const recipe = readFileSync(path.join(ROOT, "inference/train/recipes/sentiment.yaml"), "utf8");
    writeFileSync(cfg, recipe.replace("epochs: 6", "epochs: 1\n  max_examples: 200").replace("batch_size: 64", "batch_size: 16").replace("warmup_steps: 30", "warmup_steps: 2"));
    const out = path.join(tmp, "smoke-out");
    // relative paths of the recipe resolve against the current directory (the repo root here)
    const r = await cli(["--config", cfg, "--out", out, "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(result).toMatchObject({ adapter_dir: out, steps: 13, train_examples: 200 });
    for (const k of ["train_loss", "tokens_per_s", "seconds", "flops_per_s"]) expect(result[k]).toBeGreaterThan(0);
    expect(result.train_loss).toBeLessThan(result.first_loss * 0.6);
    expect(r.stderr).toMatch(/dataset: 8000 rows, 8000 usable/);
    const lw = await loadPeftAdapter(out, "smoke", await readModelConfig(path.join(ROOT, "data/demo/base")));
    expect(lw.rank).toBe(16);
    expect(lw.targetModules).toHaveLength(7);
  }, 900_000); // ~20 s on an idle 2-core machine; generous for a loaded CI box

  it("refuses bad input with a message naming the problem", async () => {
    expect((await cli([])).code).toBe(2);
    const bad = path.join(tmp, "bad.yaml");
    writeFileSync(bad, `base_model: data/demo/base\ndataset: ${data}\nprompt_template: "{q}"\ntrainer: {batch_size: 0}\n`);
    const r1 = await cli(["--config", bad]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/error: trainer\.batch_size: /);
    const empty = path.join(tmp, "empty.csv");
    writeFileSync(empty, "text,label\nhello,world\n");
    const r2 = await cli(["--config", bad.replace("bad", "bad"), "--data", empty]);
    expect(r2.code).toBe(1);
    writeFileSync(bad, `base_model: data/demo/base\ndataset: ${empty}\nprompt_template: "{q}"\n`);
    const r3 = await cli(["--config", bad, "--out", path.join(tmp, "never")]);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/empty\.csv has no usable row: of 1 rows, 1 missing column "q"/);
  });
});
