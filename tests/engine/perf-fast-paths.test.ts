/**
 * The engine's speed-ups must not change answers: the sampler's table-based logSumExp and its
 * greedy shortcut (max taken from the argmax), the top-k heap's skip test, and Model.forward's
 * reused logits buffer, each against the plain computation.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GREEDY, RequestSampler, Rng, logSumExp, topIds } from "../../inference/engine/sampler";
import { getBackend } from "../../inference/kernels";
import { loadModel } from "../../inference/model/load";
import { KvCache } from "../../inference/model/kv-cache";
import type { ForwardBatch } from "../../inference/model/batch";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** log Σ e^x with Math.exp in double precision */
function plainLogSumExp(x: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < x.length; i++) if (!Number.isNaN(x[i])) s += Math.exp(x[i] - max);
  return max + Math.log(s);
}

function randomRow(rng: Rng, n: number, spread: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (rng.next() - 0.5) * spread;
  return x;
}

describe("sampler fast paths", () => {
  it("logSumExp equals the Math.exp computation within 1e-12 over narrow and wide rows", () => {
    const rng = new Rng(7);
    for (const spread of [0.01, 1, 8, 40, 200, 5000]) {
      for (const n of [1, 2, 31, 1000, 32000]) {
        const x = randomRow(rng, n, spread);
        expect(Math.abs(logSumExp(x) - plainLogSumExp(x))).toBeLessThan(1e-12 * Math.max(1, Math.abs(plainLogSumExp(x))));
        // a plain array takes the generic loop
        expect(Math.abs(logSumExp(Array.from(x)) - plainLogSumExp(x))).toBeLessThan(1e-12 * Math.max(1, Math.abs(plainLogSumExp(x))));
      }
    }
  });

  it("logSumExp handles -Infinity, NaN and a given max", () => {
    expect(logSumExp(new Float32Array([-Infinity, -Infinity]))).toBe(-Infinity);
    const x = new Float32Array([1, -Infinity, NaN, 3, 2]);
    const want = Math.log(Math.exp(1) + Math.exp(3) + Math.exp(2));
    expect(logSumExp(x)).toBeCloseTo(want, 12);
    expect(logSumExp(x, 3)).toBeCloseTo(want, 12);
    expect(logSumExp(x, NaN)).toBeCloseTo(want, 12); // an unusable max is recomputed
  });

  it("greedy sampling reports the raw log-softmax of the argmax, with and without penalties", () => {
    const rng = new Rng(3);
    for (const over of [{}, { repetitionPenalty: 1.3 }, { frequencyPenalty: 0.5 }]) {
      const s = new RequestSampler({ ...GREEDY, ...over }, 1, [5, 9]);
      for (let t = 0; t < 20; t++) {
        const x = randomRow(rng, 5000, 12);
        const r = s.sample(x, 3);
        expect(r.logprob).toBeCloseTo(x[r.id] - plainLogSumExp(x), 10);
        for (const a of r.alternatives) expect(a.logprob).toBeCloseTo(x[a.id] - plainLogSumExp(x), 10);
        s.accept(r.id);
      }
    }
  });

  it("top_p draws equal the full-sort algorithm (peaked and flat rows, with and without a penalty)", () => {
    const rowRng = new Rng(21);
    const randn = () => Math.sqrt(-2 * Math.log(rowRng.next() + 1e-300)) * Math.cos(2 * Math.PI * rowRng.next());
    const V = 4000;
    const rows = [
      Float32Array.from({ length: V }, (_, i) => randn() * 2 + (i % 97 === 0 ? 9 : 0)), // a small nucleus
      Float32Array.from({ length: V }, () => (rowRng.next() - 0.5) * 4), // flat: the nucleus is most of the row
      Float32Array.from({ length: V }, (_, i) => Math.floor(i / 50) % 3), // many exact ties
    ];
    /** the plain algorithm: penalty, sort everything (value desc, id asc), keep the prefix reaching p, draw */
    const reference = (x: Float32Array, t: number, p: number, rep: number, seen: number[], rng: Rng): number => {
      const l = Float64Array.from(x);
      for (const id of new Set(seen)) l[id] = l[id] > 0 ? l[id] / rep : l[id] * rep;
      const ids = Array.from({ length: l.length }, (_, i) => i).sort((a, b) => (l[b] - l[a]) || (a - b));
      const max = l[ids[0]];
      const probs = ids.map((id) => Math.exp((l[id] - max) / t));
      const total = probs.reduce((a, b) => a + b, 0);
      let acc = 0;
      let keep = ids.length;
      for (let j = 0; j < ids.length; j++) { acc += probs[j] / total; if (acc >= p) { keep = j + 1; break; } }
      let sum = 0;
      for (let j = 0; j < keep; j++) sum += probs[j];
      const r = rng.next() * sum;
      acc = 0;
      for (let j = 0; j < keep; j++) { acc += probs[j]; if (r < acc) return ids[j]; }
      return ids[keep - 1];
    };
    for (const rep of [1, 1.2]) {
      for (const [ri, x] of rows.entries()) {
        for (const [t, p] of [[0.7, 0.9], [1.0, 0.5], [1.5, 0.99]]) {
          const s = new RequestSampler({ ...GREEDY, temperature: t, topP: p, repetitionPenalty: rep }, 77, [0, 97]);
          const refRng = new Rng(77);
          for (let k = 0; k < 25; k++) {
            expect(s.sample(x).id, `row ${ri} T=${t} p=${p} rep=${rep} draw ${k}`).toBe(reference(x, t, p, rep, [0, 97], refRng));
          }
        }
      }
    }
  });

  it("topIds equals a full sort (best first, ties to the lower id), ties and -Infinity included", () => {
    const rng = new Rng(11);
    const sorted = (x: ArrayLike<number>, k: number) =>
      Array.from({ length: x.length }, (_, i) => i).filter((i) => !Number.isNaN(x[i]))
        .sort((a, b) => (x[b] - x[a]) || (a - b)).slice(0, k);
    for (let t = 0; t < 40; t++) {
      const n = 1 + Math.floor(rng.next() * 300);
      // few distinct values: many ties
      const x = Float32Array.from({ length: n }, () => Math.floor(rng.next() * 6) - (rng.next() < 0.1 ? Infinity : 0));
      if (n > 3) x[1] = NaN;
      for (const k of [1, 3, 20, n + 5]) expect(topIds(x, k)).toEqual(sorted(x, k));
    }
  });
});

describe("Model.forward with reuseLogits", () => {
  it("returns the same logits as a fresh array, in one buffer reused across steps", async () => {
    const dir = path.join(ROOT, "tests/data/fixtures/tiny-llama/base");
    const model = await loadModel(dir, { backend: getBackend("native") });
    const V = model.config.vocabSize;
    const blockSize = 4;
    /** n sequences with prompts of 3..(n+2) tokens, each in its own blocks */
    const batchOf = (n: number): ForwardBatch => {
      const tokens: number[] = [], positions: number[] = [], seqIndex: number[] = [], slots: number[] = [], logitRows: number[] = [];
      const maxBlocksPerSeq = Math.ceil((n + 2) / blockSize);
      const blockTables = new Int32Array(n * maxBlocksPerSeq);
      for (let s = 0; s < n; s++) {
        for (let b = 0; b < maxBlocksPerSeq; b++) blockTables[s * maxBlocksPerSeq + b] = s * maxBlocksPerSeq + b;
        for (let p = 0; p < s + 3; p++) {
          tokens.push(1 + ((s * 7 + p * 13) % (V - 1)));
          positions.push(p);
          seqIndex.push(s);
          slots.push(blockTables[s * maxBlocksPerSeq + Math.floor(p / blockSize)] * blockSize + (p % blockSize));
        }
        logitRows.push(tokens.length - 1);
      }
      return {
        tokens: Int32Array.from(tokens), positions: Int32Array.from(positions), seqIndex: Int32Array.from(seqIndex),
        slots: Int32Array.from(slots), blockTables, maxBlocksPerSeq, segStarts: Int32Array.from([0, tokens.length]),
        adapters: [null], logitRows: Int32Array.from(logitRows),
      };
    };
    const kvFor = (n: number) => new KvCache(model.config, n * Math.ceil((n + 2) / blockSize), blockSize);

    const fresh3 = model.forward(batchOf(3), kvFor(3));
    const reused3 = model.forward(batchOf(3), kvFor(3), { reuseLogits: true });
    expect(reused3.length).toBe(3 * V);
    expect(Array.from(reused3)).toEqual(Array.from(fresh3));
    const copy3 = reused3.slice();
    // a later, larger step grows the buffer; a later smaller one reuses it (same memory as before)
    const fresh12 = model.forward(batchOf(12), kvFor(12));
    const reused12 = model.forward(batchOf(12), kvFor(12), { reuseLogits: true });
    expect(Array.from(reused12)).toEqual(Array.from(fresh12));
    const reused2 = model.forward(batchOf(2), kvFor(2), { reuseLogits: true });
    expect(reused2.buffer).toBe(reused12.buffer);
    // without the option, every call gets its own array
    const fresh2 = model.forward(batchOf(2), kvFor(2));
    expect(fresh2.buffer).not.toBe(reused2.buffer);
    expect(Array.from(reused2)).toEqual(Array.from(fresh2));
    expect(Array.from(copy3)).toEqual(Array.from(fresh3)); // the copy taken before the buffer was reused
  });
});
