/** AdamW / clipping / schedule against torch's formulas; the PEFT folder we write vs one PEFT wrote. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadPeftAdapter } from "../../inference/adapters/peft";
import { PROJECTIONS } from "../../inference/adapters/lora-weights";
import { readModelConfig } from "../../inference/model/config";
import { readSafetensorsHeader } from "../../inference/model/safetensors";
import { LoraTrainModel } from "../../inference/train/lora-model";
import { AdamW, clipGradNorm, learningRate } from "../../inference/train/optim";
import { savePeftAdapter } from "../../inference/train/peft-save";
import { Rng } from "../../inference/train/tensor";
import { DEMO_BASE, fixtureModel, ROOT } from "./helpers";

const tmp = mkdtempSync(path.join(os.tmpdir(), "train-peft-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("optimizer", () => {
  it("AdamW: two steps as torch.optim.AdamW computes them (decoupled decay, bias correction)", () => {
    const w = Float32Array.from([1, -2]);
    const g = Float32Array.from([0.5, -0.25]);
    const opt = new AdamW([{ w, g }], { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
    // torch by hand: step 1: m = 0.1 g, v = 0.001 g²; m̂ = g, v̂ = g² → w = w(1 − lr·wd) − lr·sign(g)
    opt.update(0.1);
    expect(w[0]).toBeCloseTo(1 * (1 - 0.001) - 0.1, 6);
    expect(w[1]).toBeCloseTo(-2 * (1 - 0.001) + 0.1, 6);
    g[0] = 1;
    const w0 = w[0];
    opt.update(0.1);
    const m = 0.9 * 0.05 + 0.1 * 1, v = 0.999 * 0.00025 + 0.001 * 1;
    const expected = w0 * (1 - 0.001) - (0.1 * (m / (1 - 0.81))) / (Math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8);
    expect(w[0]).toBeCloseTo(expected, 6);
  });

  it("clips the global norm and leaves small gradients alone", () => {
    const a = { w: new Float32Array(2), g: Float32Array.from([3, 0]) };
    const b = { w: new Float32Array(1), g: Float32Array.from([4]) };
    expect(clipGradNorm([a, b], 1)).toBeCloseTo(5, 6);
    expect(Math.hypot(a.g[0], a.g[1], b.g[0])).toBeCloseTo(1, 5);
    expect(clipGradNorm([a, b], 10)).toBeCloseTo(1, 5);
    expect(a.g[0]).toBeCloseTo(0.6, 5);
  });

  it("warms up linearly from 0, then follows a cosine to zero", () => {
    expect(learningRate(0, 100, 10, 1)).toBe(0);
    expect(learningRate(5, 100, 10, 1)).toBeCloseTo(0.5, 12);
    expect(learningRate(10, 100, 10, 1)).toBeCloseTo(1, 12);
    expect(learningRate(55, 100, 10, 1)).toBeCloseTo(0.5, 12);
    expect(learningRate(100, 100, 10, 1)).toBeCloseTo(0, 12);
    expect(learningRate(3, 10, 0, 2)).toBeCloseTo(2 * 0.5 * (1 + Math.cos((Math.PI * 3) / 10)), 12);
  });
});

describe("PEFT output", () => {
  it("has exactly the tensor names, shapes and dtype of a PEFT-saved adapter, and our loader reads it back bit for bit", async () => {
    const base = await fixtureModel(DEMO_BASE);
    const spec = { r: 16, alpha: 32, dropout: 0.05, targets: PROJECTIONS };
    const m = new LoraTrainModel(base.config, base.weights, spec);
    m.initLora(new Rng(1));
    m.params.forEach((p, i) => { for (let j = 0; j < p.b.length; j++) p.b[j] = Math.sin(i + j); });
    const dir = path.join(tmp, "sentiment-like");
    savePeftAdapter(dir, m.params, { baseModel: "loraland-mini-base", spec });

    const shipped = path.join(ROOT, "data/demo/adapters/sentiment"); // written by PEFT 0.21
    const ours = await readSafetensorsHeader(path.join(dir, "adapter_model.safetensors"));
    const theirs = await readSafetensorsHeader(path.join(shipped, "adapter_model.safetensors"));
    const shape = (h: typeof ours) => Object.fromEntries([...h.tensors].map(([k, t]) => [k, `${t.dtype}[${t.shape}]`]));
    expect(shape(ours)).toEqual(shape(theirs));

    const cfgOurs = JSON.parse(readFileSync(path.join(dir, "adapter_config.json"), "utf8"));
    const cfgTheirs = JSON.parse(readFileSync(path.join(shipped, "adapter_config.json"), "utf8"));
    for (const k of Object.keys(cfgOurs)) expect(Object.keys(cfgTheirs)).toContain(k);
    for (const k of ["peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "bias", "fan_in_fan_out", "use_rslora", "use_dora"]) expect(cfgOurs[k]).toEqual(cfgTheirs[k]);
    expect([...cfgOurs.target_modules].sort()).toEqual([...cfgTheirs.target_modules].sort());

    const loaded = await loadPeftAdapter(dir, "ours", await readModelConfig(DEMO_BASE));
    for (const p of m.params) {
      const pair = loaded.layers[p.layer][p.proj]!;
      expect(pair.scale).toBe(2);
      expect(Buffer.from(pair.a.buffer, pair.a.byteOffset, pair.a.byteLength).equals(Buffer.from(p.a.buffer, p.a.byteOffset, p.a.byteLength))).toBe(true);
      expect(Buffer.from(pair.b.buffer, pair.b.byteOffset, pair.b.byteLength).equals(Buffer.from(p.b.buffer, p.b.byteOffset, p.b.byteLength))).toBe(true);
    }
  });
});
