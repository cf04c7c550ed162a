/**
 * Training throughput vs this machine's matmul peak:
 *   npx tsx inference/train/bench.ts [--model data/demo/base] [--batch 64] [--len 28] [--steps 5]
 * Times forward+backward of one packed batch (batch sequences of len tokens, the last 2 of each
 * are targets, LoRA r=16 on all seven projections, dropout 0.05) and the native f32 matmul on the
 * model's largest training shape; prints wall and CPU seconds (the CPU clock counts the matmul's
 * worker threads too), tokens/s and FLOP/s by the formula of trainer.ts's flopsPerToken.
 */
import { parseArgs } from "node:util";
import { PROJECTIONS } from "../adapters/lora-weights";
import { parameterCount } from "../model/config";
import { loadBaseModel } from "./base-weights";
import { LoraTrainModel, type PackedBatch } from "./lora-model";
import { matmul, matmulStats, usingNativeMatmul } from "./matmul";
import { Rng } from "./tensor";
import { flopsPerToken } from "./trainer";

const { values } = parseArgs({ options: { model: { type: "string", default: "data/demo/base" }, batch: { type: "string", default: "64" }, len: { type: "string", default: "28" }, steps: { type: "string", default: "5" } } });
const B = Number(values.batch), L = Number(values.len), steps = Number(values.steps);

const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const wall = () => performance.now() / 1000;

const base = await loadBaseModel(values.model!);
const c = base.config;
const model = new LoraTrainModel(c, base.weights, { r: 16, alpha: 32, dropout: 0.05, targets: PROJECTIONS });
model.initLora(new Rng(1));
const T = B * (L - 1);
const batch: PackedBatch = {
  tokens: Int32Array.from({ length: T }, (_, i) => (i * 7919) % c.vocabSize),
  positions: Int32Array.from({ length: T }, (_, i) => i % (L - 1)),
  seqStarts: Int32Array.from({ length: B + 1 }, (_, s) => s * (L - 1)),
  targetRows: Int32Array.from({ length: 2 * B }, (_, r) => Math.floor(r / 2) * (L - 1) + (L - 3) + (r % 2)),
  targets: Int32Array.from({ length: 2 * B }, (_, r) => (r * 31) % c.vocabSize),
};
let formula = 0;
for (let t = 0; t < T; t++) formula += flopsPerToken(parameterCount(c), model.trainableCount, c.numLayers, c.numHeads * c.headDim, batch.positions[t] + 1);

model.forwardBackward(batch, 1 / batch.targets.length, Rng.derive(1, 2, 0)); // warm-up (weight transposes, JIT)
const m0 = matmulStats.flops;
const w0 = wall(), c0 = cpu();
for (let s = 0; s < steps; s++) {
  model.zeroGrads();
  model.forwardBackward(batch, 1 / batch.targets.length, Rng.derive(1, 2, s));
}
const dw = (wall() - w0) / steps, dc = (cpu() - c0) / steps;
const mmPerStep = (matmulStats.flops - m0) / steps;

// peak: the native matmul on the FFN shape of this batch (T, hidden) × (intermediate, hidden)ᵀ
const x = new Float32Array(T * c.hiddenSize).map((_, i) => Math.sin(i));
const w = new Float32Array(c.intermediateSize * c.hiddenSize).map((_, i) => Math.cos(i));
const o = new Float32Array(T * c.intermediateSize);
matmul(o, x, w, T, c.hiddenSize, c.intermediateSize);
let best = Infinity;
for (let r = 0; r < 7; r++) {
  const t0 = wall();
  for (let i = 0; i < 5; i++) matmul(o, x, w, T, c.hiddenSize, c.intermediateSize);
  best = Math.min(best, (wall() - t0) / 5);
}
const peak = (2 * T * c.hiddenSize * c.intermediateSize) / best;

const g = (f: number) => `${(f / 1e9).toFixed(1)} GFLOP/s`;
console.log(`native matmul: ${usingNativeMatmul()}; batch ${B} × ${L - 1} tokens = ${T} tokens/step`);
console.log(`step: ${dw.toFixed(3)} s wall, ${dc.toFixed(3)} s CPU; ${(T / dw).toFixed(0)} tokens/s`);
console.log(`formula FLOPs/step ${(formula / 1e9).toFixed(2)} G → ${g(formula / dw)}; matmul FLOPs run/step ${(mmPerStep / 1e9).toFixed(2)} G → ${g(mmPerStep / dw)}`);
console.log(`matmul peak (best of 7, ${T}×${c.hiddenSize}×${c.intermediateSize}): ${g(peak)}; formula FLOP/s = ${((100 * formula) / dw / peak).toFixed(1)}% of it`);
