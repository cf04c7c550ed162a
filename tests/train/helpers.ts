/** Shared helpers of the training tests: fixture models, packed batches, finite differences. */
import path from "node:path";
import { loadBaseModel, type BaseModel } from "../../inference/train/base-weights";
import type { PackedBatch } from "../../inference/train/lora-model";
import type { Buf } from "../../inference/train/tensor";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const FIXTURES = path.join(ROOT, "tests/data/fixtures");
export const DEMO_BASE = path.join(ROOT, "data/demo/base");

const cache = new Map<string, Promise<BaseModel>>();
export function fixtureModel(dir: string): Promise<BaseModel> {
  let p = cache.get(dir);
  if (!p) {
    p = loadBaseModel(dir);
    cache.set(dir, p);
  }
  return p;
}

/** Packs token sequences; every token after the first `promptLen[s]` of a sequence is a target. */
export function packSequences(seqs: number[][], promptLen: number[]): PackedBatch {
  const tokens: number[] = [], positions: number[] = [], starts: number[] = [0], rows: number[] = [], targets: number[] = [];
  seqs.forEach((s, i) => {
    const base = tokens.length;
    // input = all but the last token; position p predicts token p+1
    for (let p = 0; p < s.length - 1; p++) {
      tokens.push(s[p]);
      positions.push(p);
      if (p + 1 >= promptLen[i]) {
        rows.push(base + p);
        targets.push(s[p + 1]);
      }
    }
    starts.push(tokens.length);
  });
  return { tokens: Int32Array.from(tokens), positions: Int32Array.from(positions), seqStarts: Int32Array.from(starts), targetRows: Int32Array.from(rows), targets: Int32Array.from(targets) };
}

/** Central difference of f around x[i]. */
export function centralDiff(f: () => number, x: Buf, i: number, h: number): number {
  const old = x[i];
  x[i] = old + h;
  const up = f();
  x[i] = old - h;
  const down = f();
  x[i] = old;
  return (up - down) / (2 * h);
}

/** deterministic pseudo-random values in [-scale, scale) */
export function randomFill(x: Buf, seed: number, scale = 1): Buf {
  let s = seed >>> 0;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return x;
}
