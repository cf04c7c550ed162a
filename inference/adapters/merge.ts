/**
 * Per-request adapter merges (LoRAX's `merged_adapters`): several registered adapters combined
 * into one LoraWeights, cached by their recipe like any other adapter.
 *
 * - `linear` is exact in delta space: the merged delta is Σ_i w_i · scale_i · B_i · A_i, written
 *   as one LoRA of rank Σ r_i (A stacked, B side by side with w_i · scale_i folded in, scale 1).
 *   Ranks may differ; an adapter that does not adapt a projection adds nothing there.
 *   (LoRAX sums the A and the B tensors separately, which needs equal ranks and is not the sum
 *   of the deltas: (ΣwB)(ΣwA) has cross terms.)
 * - `ties`, `dare_linear`, `dare_ties` work as LoRAX's do, tensor by tensor on A and on B (a full
 *   delta would be out × in per projection): prune (ties: keep the `density` largest |x|; dare:
 *   keep each with probability `density` and divide by it), then sum (dare_linear) or elect a sign
 *   per element (`total`: sign of Σ x, `frequency`: of Σ sign x) and average the weighted values
 *   that agree with it (ties, dare_ties). Ranks must be equal. Each adapter's scale is folded into
 *   its B first (the same as LoRAX's when the scales are equal). DARE's random draws come from a
 *   seed derived from the recipe, so a recipe always merges to the same weights.
 *   (LoRAX's DARE does not divide by `density`: its `torch.div` result is discarded.)
 */
import type { LoraPair, LoraWeights, Projection } from "./lora-weights";
import { PROJECTIONS } from "./lora-weights";
import { Rng } from "../engine/sampler";
import { AdapterError } from "../errors";

export const MERGE_STRATEGIES = ["linear", "ties", "dare_linear", "dare_ties"] as const;
export type MergeStrategy = (typeof MERGE_STRATEGIES)[number];

export interface MergeRecipe {
  /** the adapters' weights, in `weights` order */
  strategy: MergeStrategy;
  weights: number[];
  /** fraction of values kept by ties / dare, in (0, 1] */
  density: number;
  majoritySignMethod: "total" | "frequency";
}

/** one string per recipe and component registrations: the merged adapter's cache key */
export function recipeKey(componentKeys: string[], r: MergeRecipe): string {
  const parts = componentKeys.map((k, i) => `${k}*${r.weights[i]}`).join("+");
  const extra = r.strategy === "linear" ? "" : r.strategy === "dare_linear" ? `:d=${r.density}` : `:d=${r.density}:${r.majoritySignMethod}`;
  return `merge:${r.strategy}${extra}:${parts}`;
}

/** FNV-1a of the recipe key: DARE's seed */
function seedOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function mergeAdapters(id: string, key: string, adapters: LoraWeights[], r: MergeRecipe): LoraWeights {
  if (adapters.length === 0 || adapters.length !== r.weights.length) throw new AdapterError(id, `a merge needs one weight per adapter (${adapters.length} adapters, ${r.weights.length} weights)`, { field: "merged_adapters.weights" });
  if (r.strategy !== "linear" && !(r.density > 0 && r.density <= 1)) throw new AdapterError(id, `density must be in (0, 1] for ${r.strategy}, got ${r.density}`, { field: "merged_adapters.density" });
  const numLayers = adapters[0]!.layers.length;
  const rng = new Rng(seedOf(key));
  const layers: Partial<Record<Projection, LoraPair>>[] = [];
  const targets = new Set<Projection>();
  let bytes = 0;
  let rank = 0;
  for (let l = 0; l < numLayers; l++) {
    const out: Partial<Record<Projection, LoraPair>> = {};
    for (const p of PROJECTIONS) {
      const idx = adapters.flatMap((a, i) => (a.layers[l]?.[p] ? [i] : []));
      if (idx.length === 0) continue;
      const pairs = idx.map((i) => adapters[i]!.layers[l]![p]!);
      const w = idx.map((i) => r.weights[i]!);
      const pair = r.strategy === "linear" ? linear(pairs, w) : tensorMerge(id, `layer ${l} ${p}`, pairs, w, r, rng);
      out[p] = pair;
      targets.add(p);
      bytes += (pair.a.length + pair.b.length) * 4;
      rank = Math.max(rank, pair.r);
    }
    layers.push(out);
  }
  return { id, layers, bytes, rank, targetModules: PROJECTIONS.filter((p) => targets.has(p)) };
}

/** Σ w_i s_i B_i A_i as one pair: A' (Σr, in) = [A_1; A_2; ...], B' (out, Σr) = [w_1 s_1 B_1, w_2 s_2 B_2, ...] */
function linear(pairs: LoraPair[], w: number[]): LoraPair {
  const R = pairs.reduce((s, q) => s + q.r, 0);
  const inDim = pairs[0]!.a.length / pairs[0]!.r;
  const outDim = pairs[0]!.b.length / pairs[0]!.r;
  const a = new Float32Array(R * inDim); // (R, in)
  const b = new Float32Array(outDim * R); // (out, R)
  let off = 0;
  pairs.forEach((q, i) => {
    a.set(q.a, off * inDim);
    const f = w[i]! * q.scale;
    for (let o = 0; o < outDim; o++) {
      for (let k = 0; k < q.r; k++) b[o * R + off + k] = f * q.b[o * q.r + k]!;
    }
    off += q.r;
  });
  return { a, b, r: R, scale: 1 };
}

function tensorMerge(id: string, where: string, pairs: LoraPair[], w: number[], r: MergeRecipe, rng: Rng): LoraPair {
  const rank = pairs[0]!.r;
  if (pairs.some((q) => q.r !== rank)) {
    throw new AdapterError(id, `${r.strategy} merges adapters of one rank, but ${where} has ranks ${pairs.map((q) => q.r).join(", ")} (linear merges any ranks)`, { field: "merged_adapters.ids" });
  }
  const a = mergeTensors(pairs.map((q) => q.a), w, r, rng);
  const b = mergeTensors(pairs.map((q) => { const s = new Float32Array(q.b); for (let i = 0; i < s.length; i++) s[i]! *= q.scale; return s; }), w, r, rng);
  return { a, b, r: rank, scale: 1 };
}

/** one merged tensor from the same tensor of each adapter (all of one length) */
export function mergeTensors(ts: Float32Array[], w: number[], r: MergeRecipe, rng: Rng): Float32Array {
  const dare = r.strategy === "dare_linear" || r.strategy === "dare_ties";
  const pruned = ts.map((t) => (r.density >= 1 ? t : dare ? randomPrune(t, r.density, rng) : magnitudePrune(t, r.density)));
  const n = ts[0]!.length;
  const out = new Float32Array(n);
  if (r.strategy === "dare_linear") {
    for (let j = 0; j < pruned.length; j++) for (let i = 0; i < n; i++) out[i]! += w[j]! * pruned[j]![i]!;
    return out;
  }
  // ties / dare_ties: the majority sign from the unweighted values, then the mean of the agreeing weighted ones
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (const t of pruned) m += r.majoritySignMethod === "total" ? t[i]! : Math.sign(t[i]!);
    const major = m >= 0 ? 1 : -1;
    let sum = 0;
    let count = 0;
    pruned.forEach((t, j) => {
      if (Math.sign(t[i]!) === major) {
        sum += w[j]! * t[i]!;
        count++;
      }
    });
    out[i] = sum / Math.max(count, 1);
  }
  return out;
}

/** keep the k = floor(density · n) largest magnitudes (ties broken by position, as a stable top-k) */
export function magnitudePrune(t: Float32Array, density: number): Float32Array {
  const k = Math.floor(density * t.length);
  const order = Array.from(t.keys()).sort((x, y) => Math.abs(t[y]!) - Math.abs(t[x]!) || x - y);
  const out = new Float32Array(t.length);
  for (let j = 0; j < k; j++) out[order[j]!] = t[order[j]!]!;
  return out;
}

/** DARE: keep each value with probability `density`, divided by it (the expected value is kept) */
export function randomPrune(t: Float32Array, density: number, rng: Rng): Float32Array {
  const out = new Float32Array(t.length);
  for (let i = 0; i < t.length; i++) if (rng.next() < density) out[i] = t[i]! / density;
  return out;
}
