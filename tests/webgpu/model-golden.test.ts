/**
 * The engine's forward pass on the WebGPU backend against the transformers + PEFT references:
 * last-position and position-0 logits, top-5, the mixed-adapter batch, for every fixture and the
 * demo model, with f32 weights (tolerance 1e-3, like the CPU); f16 weights within a measured bound
 * and with the f32 run's greedy (argmax) ids.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadModel } from "../../inference/model/load";
import { loadPeftAdapter } from "../../inference/adapters/peft";
import { promptLogitsAsync } from "../../inference/model/prompt-batch";
import type { LoraWeights } from "../../inference/adapters/lora-weights";
import type { DtypeChoice } from "../../inference/model/weights";
import type { WebGpuBackend } from "../../inference/webgpu/backend";
import { openTestGpu, reportMissingGpu } from "./gpu-test-backend";

interface Run {
  last_logits: number[];
  first_position_logits_head: number[];
  top5_ids: number[];
  top5_logprobs: number[];
}

const ROOT = path.resolve(import.meta.dirname, "../..");
const TOL = 1e-3;
/**
 * f16 weights vs the fp32 reference on the demo model: measured max |Δlogit| 2.4e-5 on lavapipe.
 * Its checkpoint is bf16, whose values f16 holds exactly (8 of f16's 10 mantissa bits, in range),
 * so the f16 run differs only by summation order; the bound is the f32 one.
 */
const F16_TOL = 1e-3;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

function logSoftmaxTop(logits: Float32Array, k: number): { ids: number[]; logprobs: number[] } {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const ids = Array.from(logits.keys()).sort((x, y) => logits[y] - logits[x] || x - y).slice(0, k);
  return { ids, logprobs: ids.map((i) => logits[i] - lse) };
}

const gpu = await openTestGpu();
if (!gpu.be) reportMissingGpu(gpu.reason);

async function load(be: WebGpuBackend, dir: string, dtype: DtypeChoice) {
  return loadModel(path.join(dir, "base"), { backend: be, weights: { dtype } });
}

async function adaptersOf(dir: string, config: Parameters<typeof loadPeftAdapter>[2], names: string[]): Promise<Map<string, LoraWeights | null>> {
  const m = new Map<string, LoraWeights | null>([["__base__", null]]);
  for (const n of names) if (n !== "__base__") m.set(n, await loadPeftAdapter(path.join(dir, "adapters", n), n, config));
  return m;
}

describe.runIf(gpu.be)("golden logits on WebGPU", () => {
  const be = gpu.be!;
  afterAll(() => be.close());

  for (const name of ["tiny-llama", "tiny-mistral", "tiny-llama3"]) {
    it(`${name}: every adapter and prompt, and the mixed-adapter batch (f32 weights)`, async () => {
      const dir = path.join(ROOT, "tests/data/fixtures", name);
      const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8"));
      const model = await load(be, dir, "f32");
      const adapters = await adaptersOf(dir, model.config, Object.keys(expected.runs));
      let worst = 0;
      for (const [adapter, runs] of Object.entries<Run[]>(expected.runs)) {
        const a = adapters.get(adapter)!;
        const prompts = expected.prompts as { ids: number[] }[];
        const last = await promptLogitsAsync(model, prompts.map((p) => ({ ids: p.ids, adapter: a })));
        const first = await promptLogitsAsync(model, prompts.map((p) => ({ ids: p.ids.slice(0, 1), adapter: a })));
        runs.forEach((run, i) => {
          worst = Math.max(worst, maxAbsDiff(last[i], run.last_logits));
          worst = Math.max(worst, maxAbsDiff(first[i].subarray(0, run.first_position_logits_head.length), run.first_position_logits_head));
          const top = logSoftmaxTop(last[i], 5);
          expect(top.ids, `${adapter} prompt ${i} top5`).toEqual(run.top5_ids);
          expect(maxAbsDiff(top.logprobs, run.top5_logprobs)).toBeLessThan(TOL);
        });
      }
      expect(worst).toBeLessThan(TOL);
      const mb = expected.mixed_batch;
      const ids = expected.prompts[mb.prompt_index].ids;
      const out = await promptLogitsAsync(model, mb.adapter_order.map((a: string) => ({ ids, adapter: adapters.get(a)! })));
      mb.adapter_order.forEach((a: string, k: number) => {
        expect(maxAbsDiff(out[k], mb.last_logits[k])).toBeLessThan(TOL);
      });
    });
  }

  it("demo model: base and task adapters, f32 within 1e-3; f16 within its bound with the f32 argmax ids", async () => {
    const dir = path.join(ROOT, "data/demo");
    const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8"));
    const prompts = expected.prompts as { ids: number[] }[];
    const results: Record<string, Record<string, Float32Array[]>> = {};
    for (const dtype of ["f32", "f16"] as const) {
      const model = await load(be, dir, dtype);
      expect(model.weights.load?.dtype).toBe(dtype);
      const adapters = await adaptersOf(dir, model.config, Object.keys(expected.runs));
      results[dtype] = {};
      for (const adapter of Object.keys(expected.runs)) {
        results[dtype][adapter] = await promptLogitsAsync(model, prompts.map((p) => ({ ids: p.ids, adapter: adapters.get(adapter)! })));
      }
    }
    let worstF16 = 0;
    for (const [adapter, runs] of Object.entries<Run[]>(expected.runs)) {
      runs.forEach((run, i) => {
        expect(maxAbsDiff(results.f32[adapter][i], run.last_logits), `${adapter} prompt ${i}`).toBeLessThan(TOL);
        worstF16 = Math.max(worstF16, maxAbsDiff(results.f16[adapter][i], run.last_logits));
        expect(argmax(results.f16[adapter][i]), `${adapter} prompt ${i} f16 greedy id`).toBe(argmax(results.f32[adapter][i]));
      });
    }
    console.log(`webgpu f16 weights on the demo model: max |Δlogit| vs fp32 reference = ${worstF16.toExponential(2)}`);
    expect(worstF16).toBeLessThan(F16_TOL);
  });
});
