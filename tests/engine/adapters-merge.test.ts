/**
 * merged_adapters (adapters/merge.ts): the linear merge's logits equal those of the explicitly
 * summed deltas Σ w_i s_i B_i A_i (a dense delta, applied as a full-rank pair A = I, B = D);
 * TIES / DARE against hand-worked tensors; the engine serves a recipe from its adapter cache.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { getBackend } from "../../inference/kernels";
import { loadModel } from "../../inference/model/load";
import { loadPeftAdapter } from "../../inference/adapters/peft";
import { promptLogits } from "../../inference/model/prompt-batch";
import { PROJECTIONS, type LoraPair, type LoraWeights, type Projection } from "../../inference/adapters/lora-weights";
import { magnitudePrune, mergeAdapters, mergeTensors, randomPrune, recipeKey, type MergeRecipe } from "../../inference/adapters/merge";
import { Rng } from "../../inference/engine/sampler";
import { Engine } from "../../inference/engine/engine";
import { FIXTURES, readJson, run } from "./engine-helpers";

const fx = path.join(FIXTURES, "tiny-mistral");

/** the dense Σ w_i s_i B_i A_i (out, in) of one projection, in float64, as a pair x · Iᵀ · Dᵀ */
function denseSum(pairs: (LoraPair | undefined)[], w: number[]): LoraPair | undefined {
  const some = pairs.find((p) => p);
  if (!some) return undefined;
  const inDim = some.a.length / some.r;
  const outDim = some.b.length / some.r;
  const d = new Float64Array(outDim * inDim);
  pairs.forEach((p, i) => {
    if (!p) return;
    for (let o = 0; o < outDim; o++) {
      for (let k = 0; k < p.r; k++) {
        const f = w[i]! * p.scale * p.b[o * p.r + k]!;
        for (let j = 0; j < inDim; j++) d[o * inDim + j] += f * p.a[k * inDim + j]!;
      }
    }
  });
  const eye = new Float32Array(inDim * inDim);
  for (let j = 0; j < inDim; j++) eye[j * inDim + j] = 1;
  return { a: eye, b: Float32Array.from(d), r: inDim, scale: 1 };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const recipe = (strategy: MergeRecipe["strategy"], weights: number[], extra: Partial<MergeRecipe> = {}): MergeRecipe => ({ strategy, weights, density: 1, majoritySignMethod: "total", ...extra });

describe("linear merge", () => {
  it("its logits equal the explicitly summed deltas (ranks 8, 16, 4 with rsLoRA; some projections adapted by one only)", async () => {
    const model = await loadModel(path.join(fx, "base"), { backend: getBackend("native") });
    const names = ["qv-r8", "all-r16", "mlp-r4-rs"];
    const adapters = await Promise.all(names.map((n) => loadPeftAdapter(path.join(fx, "adapters", n), n, model.config)));
    const w = [0.7, -0.4, 1.3];
    const merged = mergeAdapters("m", recipeKey(names, recipe("linear", w)), adapters, recipe("linear", w));
    expect(merged.layers[0]!.q_proj!.r).toBe(8 + 16);
    expect(merged.layers[0]!.gate_proj!.r).toBe(16 + 4);
    const dense: LoraWeights = {
      id: "dense",
      layers: merged.layers.map((_, l) => Object.fromEntries(PROJECTIONS.flatMap((p: Projection) => {
        const pair = denseSum(adapters.map((a) => a.layers[l]?.[p]), w);
        return pair ? [[p, pair]] : [];
      }))),
      bytes: 0,
      rank: 0,
      targetModules: [...PROJECTIONS],
    };
    const prompts: { ids: number[] }[] = readJson(path.join(fx, "expected.json")).prompts;
    const got = promptLogits(model, prompts.map((p) => ({ ids: p.ids, adapter: merged })));
    const want = promptLogits(model, prompts.map((p) => ({ ids: p.ids, adapter: dense })));
    const base = promptLogits(model, prompts.map((p) => ({ ids: p.ids, adapter: null })));
    got.forEach((g, i) => {
      expect(maxAbsDiff(g, want[i]!)).toBeLessThan(1e-4);
      expect(maxAbsDiff(g, base[i]!)).toBeGreaterThan(1e-2); // the merge changes the output
    });
  });
});

describe("TIES and DARE, tensor by tensor", () => {
  it("magnitude pruning keeps floor(density · n) largest values", () => {
    expect([...magnitudePrune(Float32Array.from([0.1, -3, 2, -0.5]), 0.5)]).toEqual([0, -3, 2, 0]);
    expect([...magnitudePrune(Float32Array.from([1, 1, 1]), 0.5)]).toEqual([1, 0, 0]);
  });

  it("ties: trim, elect the sign (total or frequency), average the agreeing weighted values", () => {
    const t1 = Float32Array.from([1, -2, 0.1, 4]);
    const t2 = Float32Array.from([-3, -1, 0.2, 1]);
    const t3 = Float32Array.from([1, 2, -0.3, 2]);
    const r = recipe("ties", [1, 0.5, 2], { density: 0.75 });
    // trimmed (3 largest of 4): t1 [1,-2,0,4], t2 [-3,-1,0,1], t3 [1,2,0,2]
    // total sums: -1 -> -, -1 -> -, 0 -> + (nothing agrees: 0), 7 -> +
    const total = mergeTensors([t1, t2, t3], r.weights, r, new Rng(1));
    expect([...total].map((x) => +x.toFixed(5))).toEqual([-1.5, (-2 - 0.5) / 2, 0, (4 + 0.5 + 4) / 3].map((x) => +x.toFixed(5)));
    // frequency: signs +,-,+ -> +; -,-,+ -> -; 0,0,0 -> 0; +,+,+ -> +
    const freq = mergeTensors([t1, t2, t3], r.weights, { ...r, majoritySignMethod: "frequency" }, new Rng(1));
    expect([...freq].map((x) => +x.toFixed(5))).toEqual([(1 + 2) / 2, -1.25, 0, 8.5 / 3].map((x) => +x.toFixed(5)));
  });

  it("dare: each value kept with probability density and divided by it; the same seed draws the same mask", () => {
    const t = new Float32Array(20_000).fill(1);
    const a = randomPrune(t, 0.25, new Rng(9));
    const kept = a.filter((x) => x !== 0);
    expect(kept.every((x) => x === 4)).toBe(true);
    expect(Math.abs(kept.length / t.length - 0.25)).toBeLessThan(0.02);
    expect([...randomPrune(t, 0.25, new Rng(9))]).toEqual([...a]);
    const r = recipe("dare_linear", [1, 1], { density: 0.5 });
    const m = mergeTensors([t, t], r.weights, r, new Rng(3));
    expect(Math.abs(m.reduce((s, x) => s + x, 0) / t.length - 2)).toBeLessThan(0.05); // the expectation is kept
  });

  it("ties refuses adapters of different ranks, naming the field", async () => {
    const model = await loadModel(path.join(fx, "base"), { backend: getBackend("native") });
    const adapters = await Promise.all(["qv-r8", "attn-r2"].map((n) => loadPeftAdapter(path.join(fx, "adapters", n), n, model.config)));
    expect(() => mergeAdapters("m", "k", adapters, recipe("ties", [1, 1], { density: 0.5 }))).toThrow(/one rank.*8, 2/);
  });
});

describe("the engine serves merges from its adapter cache", () => {
  it("linear [1, 0] generates what the first adapter alone does; a recipe is merged once; bad recipes are errors naming the field", async () => {
    const engine = await Engine.create({ modelDir: path.join(fx, "base"), log: null });
    for (const n of ["qv-r8", "attn-r2", "all-r16"]) await engine.registerAdapter(n, path.join(fx, "adapters", n), "local");
    const prompt = readJson(path.join(fx, "expected.json")).prompts[0].ids as number[];
    const req = { promptIds: prompt, maxNewTokens: 12, ignoreEos: true };
    const alone = await run(engine, { ...req, adapterId: "qv-r8" });
    const other = await run(engine, { ...req, adapterId: "attn-r2" });
    expect(other.ids).not.toEqual(alone.ids);
    const loads = engine.stats().adapterLoads;
    const merged = await run(engine, { ...req, mergedAdapters: { ids: ["qv-r8", "attn-r2"], weights: [1, 0] } });
    expect(merged.error).toBeNull();
    expect(merged.ids).toEqual(alone.ids);
    expect(engine.stats().adapterLoads).toBe(loads + 1);
    await run(engine, { ...req, mergedAdapters: { ids: ["qv-r8", "attn-r2"], weights: [1, 0] } });
    expect(engine.stats().adapterLoads).toBe(loads + 1); // cached by its recipe
    // ties of one adapter with itself, weights 1: every sign agrees, the mean is the adapter
    const self = await run(engine, { ...req, mergedAdapters: { ids: ["qv-r8", "qv-r8"], strategy: "ties", density: 1 } });
    expect(self.ids).toEqual(alone.ids);
    expect(engine.listAdapters().map((a) => a.id).sort()).toEqual(["all-r16", "attn-r2", "qv-r8"]); // merges are not listed
    const bad = async (m: object, field: RegExp) => {
      const r = await run(engine, { ...req, mergedAdapters: m as never });
      expect(r.error?.message).toMatch(field);
    };
    await bad({ ids: ["qv-r8", "attn-r2"], strategy: "ties", density: 0.5 }, /one rank/);
    await bad({ ids: ["qv-r8", "attn-r2"], strategy: "dare_linear" }, /density/);
    await bad({ ids: ["qv-r8", "attn-r2"], weights: [1] }, /weights/);
    await bad({ ids: ["qv-r8", "nope"] }, /nope/);
    await bad({ ids: ["qv-r8"], strategy: "slerp" }, /merge_strategy/);
    await engine.shutdown();
  });
});
