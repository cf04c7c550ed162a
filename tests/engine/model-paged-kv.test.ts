/**
 * Model.forward over the paged KV cache the way the scheduler drives it: prompts prefilled in
 * chunks, two sequences interleaved in each step with different adapters, scattered (shuffled)
 * block ids, then token-by-token greedy decoding. The logits and the greedy ids must equal the
 * transformers + PEFT references, which proves positions, slots, block tables, the sliding
 * window (tiny-mistral's third prompt is longer than its window) and per-segment LoRA.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { getBackend } from "../../inference/kernels";
import { loadModel } from "../../inference/model/load";
import { KvCache } from "../../inference/model/kv-cache";
import { loadPeftAdapter } from "../../inference/adapters/peft";
import type { ForwardBatch } from "../../inference/model/batch";
import type { LoraWeights } from "../../inference/adapters/lora-weights";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BLOCK = 4;

interface Seq { ids: number[]; done: number; blocks: number[]; adapter: LoraWeights | null; greedy: number[] }

/** one step: up to `chunk` new tokens of each sequence, sequences in order (one LoRA segment each) */
function step(seqs: Seq[], chunk: number, maxBlocks: number): { batch: ForwardBatch; counts: number[] } {
  const tokens: number[] = [], positions: number[] = [], seqIndex: number[] = [], slots: number[] = [], logitRows: number[] = [];
  const segStarts: number[] = [], adapters: (LoraWeights | null)[] = [], counts: number[] = [];
  const blockTables = new Int32Array(seqs.length * maxBlocks).fill(-1);
  seqs.forEach((s, i) => {
    const n = Math.min(chunk, s.ids.length - s.done);
    counts.push(n);
    segStarts.push(tokens.length);
    adapters.push(s.adapter);
    s.blocks.forEach((b, j) => { blockTables[i * maxBlocks + j] = b; });
    for (let p = s.done; p < s.done + n; p++) {
      tokens.push(s.ids[p]);
      positions.push(p);
      seqIndex.push(i);
      slots.push(s.blocks[Math.floor(p / BLOCK)] * BLOCK + (p % BLOCK));
    }
    logitRows.push(tokens.length - 1);
  });
  segStarts.push(tokens.length);
  const batch: ForwardBatch = {
    tokens: Int32Array.from(tokens), positions: Int32Array.from(positions), seqIndex: Int32Array.from(seqIndex),
    slots: Int32Array.from(slots), blockTables, maxBlocksPerSeq: maxBlocks, segStarts: Int32Array.from(segStarts),
    adapters, logitRows: Int32Array.from(logitRows),
  };
  return { batch, counts };
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

describe.each(["tiny-mistral", "tiny-llama3"])("paged KV, chunked prefill and decode: %s", (name) => {
  it("matches the reference logits and greedy ids with scattered blocks and mixed adapters", async () => {
    const dir = path.join(ROOT, "tests/data/fixtures", name);
    const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8"));
    const model = await loadModel(path.join(dir, "base"), { backend: getBackend("native") });
    const V = model.config.vocabSize;
    const adapterNames = ["all-r16", "__base__"];
    const adapters = await Promise.all(adapterNames.map((a) => (a === "__base__" ? null : loadPeftAdapter(path.join(dir, "adapters", a), a, model.config))));
    const prompts = [2, 1]; // the long prompt (past the sliding window) and a shorter one
    const greedyLen = expected.runs[adapterNames[0]][prompts[0]].greedy.length;
    const maxLen = Math.max(...prompts.map((p) => expected.prompts[p].ids.length)) + greedyLen;
    const maxBlocks = Math.ceil(maxLen / BLOCK);
    // scattered block ids: sequence 0 takes the odd blocks from the top, sequence 1 the even ones
    const numBlocks = 2 * maxBlocks + 3;
    const kv = new KvCache(model.config, numBlocks, BLOCK);
    const seqs: Seq[] = prompts.map((p, i) => ({
      ids: [...expected.prompts[p].ids], done: 0, adapter: adapters[i], greedy: [],
      blocks: Array.from({ length: maxBlocks }, (_, j) => numBlocks - 1 - (2 * j + i)),
    }));
    let worst = 0;
    // chunked prefill: 7 tokens per sequence per step
    while (seqs.some((s) => s.done < s.ids.length)) {
      const active = seqs.filter((s) => s.done < s.ids.length);
      const { batch, counts } = step(active, 7, maxBlocks);
      const logits = model.forward(batch, kv);
      active.forEach((s, i) => {
        s.done += counts[i];
        if (s.done === s.ids.length) {
          const k = seqs.indexOf(s);
          const ref: number[] = expected.runs[adapterNames[k]][prompts[k]].last_logits;
          for (let j = 0; j < V; j++) worst = Math.max(worst, Math.abs(logits[i * V + j] - ref[j]));
          s.greedy.push(argmax(logits.subarray(i * V, (i + 1) * V)));
        }
      });
    }
    expect(worst).toBeLessThan(1e-3);
    // decode: one token per sequence per step, both sequences in every step
    while (seqs.some((s) => s.greedy.length < greedyLen)) {
      const active = seqs.filter((s) => s.greedy.length < greedyLen);
      for (const s of active) s.ids.push(s.greedy[s.greedy.length - 1]);
      const { batch } = step(active, 1, maxBlocks);
      const logits = model.forward(batch, kv);
      active.forEach((s, i) => {
        s.done += 1;
        s.greedy.push(argmax(logits.subarray(i * V, (i + 1) * V)));
      });
    }
    seqs.forEach((s, k) => expect(s.greedy, `${adapterNames[k]} prompt ${prompts[k]}`).toEqual(expected.runs[adapterNames[k]][prompts[k]].greedy));
  });
});
