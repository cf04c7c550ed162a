/**
 * The sentiment recipe's first 32 optimizer steps equal transformers 5.17 + peft 0.21's Trainer
 * replaying the same run: same initial A (our seed-7 draw), same batches (our seed-7 epoch order),
 * LoRA dropout 0 (the only random draw we cannot hand over), fp32 base. The reference numbers were
 * written by `inference/train/reference/hf_replay.py` (README "Against transformers + PEFT") on the
 * CPU with torch 2.13; over the first 100 steps the two agreed to 2e-6 in the loss and 3e-5 in the
 * gradient norm. This pins the whole step: packing and targets, loss divisor, gradients, clipping,
 * AdamW, the warmup + cosine schedule.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfigText, validateConfig } from "../../inference/train/config";
import { TrainCancelled, train, type TrainProgress } from "../../inference/train/trainer";
import { ROOT } from "./helpers";

const tmp = mkdtempSync(path.join(os.tmpdir(), "train-vs-hf-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** transformers' logged loss / grad_norm / learning_rate of steps 1..32 (hf_replay.py, seed 7, dropout 0, float32) */
const HF_LOSS = [
  7.652696, 7.456624, 7.135193, 6.262836, 5.28801, 4.466582, 3.888679, 3.10824, 2.338668, 1.46463, 0.858022, 0.474401, 0.396424, 0.378186, 0.368001, 0.37459,
  0.378199, 0.354121, 0.381092, 0.346295, 0.351554, 0.361249, 0.359532, 0.360152, 0.379333, 0.427251, 0.35426, 0.393788, 0.350664, 0.35982, 0.34675, 0.360877,
];
const HF_GRAD_NORM = [
  30.94053, 31.79807, 30.04036, 27.95351, 19.83388, 16.72089, 16.39933, 14.88254, 13.24137, 11.3272, 8.5546, 2.62455, 1.71484, 2.1103, 0.96632, 0.96606,
  1.27513, 0.22894, 1.50292, 0.12581, 0.28304, 0.81372, 0.77989, 0.96413, 1.14664, 2.0284, 0.40346, 1.35897, 0.30297, 0.562, 0.33093, 0.59394,
];
/** get_cosine_schedule_with_warmup(30, 750) at steps 0..31 */
const hfLr = (s: number) => (s < 30 ? (2e-3 * s) / 30 : 2e-3 * 0.5 * (1 + Math.cos((Math.PI * (s - 30)) / 720)));

describe("the sentiment recipe against transformers + PEFT", () => {
  it("32 steps from the same init and batches: same loss, gradient norm and learning rate", async () => {
    const raw = parseConfigText(readFileSync(path.join(ROOT, "inference/train/recipes/sentiment.yaml"), "utf8"));
    const cfg = validateConfig({
      ...raw,
      output_dir: path.join(tmp, "out"),
      adapter: { ...(raw.adapter as object), dropout: 0 },
      trainer: { ...(raw.trainer as object), seed: 7 },
    }, {}, ROOT);
    const seen: TrainProgress[] = [];
    const ctl = new AbortController();
    await expect(train(cfg, { fresh: true, signal: ctl.signal, onProgress: (p) => {
      seen.push(p);
      if (p.step === HF_LOSS.length) ctl.abort();
    } })).rejects.toBeInstanceOf(TrainCancelled);
    expect(seen.length).toBe(HF_LOSS.length);
    expect(seen[0].total_steps).toBe(750);
    seen.forEach((p, i) => {
      expect(Math.abs(p.loss - HF_LOSS[i]) / HF_LOSS[i], `loss at step ${i + 1}`).toBeLessThan(1e-4);
      expect(Math.abs(p.grad_norm - HF_GRAD_NORM[i]) / HF_GRAD_NORM[i], `grad norm at step ${i + 1}`).toBeLessThan(1e-3);
      expect(p.lr).toBeCloseTo(hfLr(i), 12);
    });
  }, 240_000);
});
