/**
 * The engine's forward pass against the transformers + PEFT references: last-position logits,
 * position-0 logits, top-5, and the mixed-adapter batch, for every fixture and the demo model,
 * on the native backend (and the TypeScript reference on the smallest fixture).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { getBackend } from "../../inference/kernels";
import { loadModel } from "../../inference/model/load";
import { loadPeftAdapter } from "../../inference/adapters/peft";
import { promptLogits } from "../../inference/model/prompt-batch";
import type { LoraWeights } from "../../inference/adapters/lora-weights";
import type { Model } from "../../inference/model/model";

/** one reference run of expected.json (per adapter, per prompt) */
interface Run {
  last_logits: number[];
  first_position_logits_head: number[];
  top5_ids: number[];
  top5_logprobs: number[];
}

const ROOT = path.resolve(import.meta.dirname, "../..");
const TOL = 1e-3;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
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

async function adaptersOf(dir: string, model: Model, names: string[]): Promise<Map<string, LoraWeights | null>> {
  const m = new Map<string, LoraWeights | null>([["__base__", null]]);
  for (const n of names) if (n !== "__base__") m.set(n, await loadPeftAdapter(path.join(dir, "adapters", n), n, model.config));
  return m;
}

const FIXTURES = ["tiny-llama", "tiny-mistral", "tiny-llama3"] as const;

describe.each(FIXTURES)("golden logits: %s", (name) => {
  const dir = path.join(ROOT, "tests/data/fixtures", name);
  const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8"));
  const backends = name === "tiny-llama" ? (["native", "reference"] as const) : (["native"] as const);

  it.each(backends)("every adapter and prompt matches on the %s backend", async (backendName) => {
    const model = await loadModel(path.join(dir, "base"), { backend: getBackend(backendName) });
    const adapters = await adaptersOf(dir, model, Object.keys(expected.runs));
    let worst = 0;
    for (const [adapter, runs] of Object.entries<Run[]>(expected.runs)) {
      const rows = expected.prompts.map((p: { ids: number[] }) => ({ ids: p.ids, adapter: adapters.get(adapter)! }));
      const last = promptLogits(model, rows);
      // position-0 logits: the first token alone
      const first = promptLogits(model, expected.prompts.map((p: { ids: number[] }) => ({ ids: p.ids.slice(0, 1), adapter: adapters.get(adapter)! })));
      runs.forEach((run, i) => {
        worst = Math.max(worst, maxAbsDiff(last[i], run.last_logits));
        worst = Math.max(worst, maxAbsDiff(first[i].subarray(0, run.first_position_logits_head.length), run.first_position_logits_head));
        const top = logSoftmaxTop(last[i], 5);
        expect(top.ids, `${adapter} prompt ${i} top5`).toEqual(run.top5_ids);
        expect(maxAbsDiff(top.logprobs, run.top5_logprobs)).toBeLessThan(TOL);
      });
    }
    expect(worst).toBeLessThan(TOL);
  });

  it("the mixed-adapter batch in one forward pass equals the single runs", async () => {
    const model = await loadModel(path.join(dir, "base"), { backend: getBackend("native") });
    const mb = expected.mixed_batch;
    const adapters = await adaptersOf(dir, model, mb.adapter_order);
    const ids = expected.prompts[mb.prompt_index].ids;
    const out = promptLogits(model, mb.adapter_order.map((a: string) => ({ ids, adapter: adapters.get(a)! })));
    mb.adapter_order.forEach((a: string, k: number) => {
      expect(maxAbsDiff(out[k], mb.last_logits[k])).toBeLessThan(TOL);
      expect(maxAbsDiff(out[k], expected.runs[a][mb.prompt_index].last_logits)).toBeLessThan(TOL);
    });
  });
});

describe("golden logits: bundled mini LoRA Land model", () => {
  const dir = path.join(ROOT, "data/demo");
  const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8"));

  it("base and task adapters match on every task prompt", async () => {
    const model = await loadModel(path.join(dir, "base"), { backend: getBackend("native") });
    const names = Object.keys(expected.runs);
    expect(names.length).toBeGreaterThan(1);
    const adapters = await adaptersOf(dir, model, names);
    for (const [adapter, runs] of Object.entries<Run[]>(expected.runs)) {
      const prompts = expected.prompts as { ids: number[] }[];
      const last = promptLogits(model, prompts.map((p) => ({ ids: p.ids, adapter: adapters.get(adapter)! })));
      runs.forEach((run, i) => expect(maxAbsDiff(last[i], run.last_logits), `${adapter} prompt ${i}`).toBeLessThan(TOL));
    }
  });
});
