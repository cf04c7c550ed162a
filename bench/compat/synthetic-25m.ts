/**
 * The ~25M-parameter Mistral-shaped model of issue 13 items 7 and 10 (the engine benchmark's shape
 * with a 700-token vocabulary: 8 layers, hidden 512, GQA 8:2, ffn 1536) and 8 distinct r=8 q/v
 * adapters, generated once into bench/out/compat-25m (bench/engine/synthetic.ts).
 */
import path from "node:path";
import { BENCH_SHAPE, benchAdapterSpecs, ensureSynthetic, type SyntheticPaths, type SyntheticShape } from "../engine/synthetic";

export const SHAPE_25M: SyntheticShape = { ...BENCH_SHAPE, vocab: 700, maxPositions: 1024 };
export const ROOT = path.resolve(import.meta.dirname, "..", "..");

export function ensure25m(log: (line: string) => void = () => {}): SyntheticPaths {
  return ensureSynthetic(path.join(ROOT, "bench", "out", "compat-25m"), SHAPE_25M, benchAdapterSpecs(8).slice(0, 8), log);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
