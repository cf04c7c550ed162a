/**
 * Token selection from one row of logits.
 *
 * Order of processing (as Hugging Face `generate` applies its logits processors):
 *   1. repetition_penalty (HF): for every id in prompt + generated, a logit l > 0 becomes l / p,
 *      otherwise l * p.
 *   2. frequency / presence penalty (OpenAI): l -= frequency · count + presence · (count > 0),
 *      counts over the generated ids only.
 *   3. greedy (temperature 0 or absent): argmax, the lowest id on ties.
 *      Otherwise l / temperature, then top_k (the k largest, ties to the lower id), then top_p
 *      (the smallest prefix of the sorted distribution whose mass reaches p, at least one token),
 *      then typical_p (keep the tokens whose surprisal is closest to the entropy until their mass
 *      reaches p, HF TypicalLogitsWarper), then a draw from the seeded generator.
 *
 * Reported logprobs (the chosen token and the alternatives) are those of the model's raw
 * distribution: log-softmax of the unprocessed logits (what vLLM reports by default). They do not
 * depend on the sampling parameters, so a greedy run and a sampled run report comparable numbers.
 */

export interface SamplerConfig {
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
  /** typical decoding mass, 1 = off */
  typicalP?: number;
}

export const GREEDY: SamplerConfig = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, frequencyPenalty: 0, presencePenalty: 0 };

export interface SampledToken {
  id: number;
  logprob: number;
  /** the `topAlternatives` most likely ids under the raw distribution, best first */
  alternatives: { id: number; logprob: number }[];
}

/** xoshiro128** seeded through splitmix32: a small, fast PRNG with a 32-bit seed. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** next uint32 */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** uniform in [0, 1) with 53 random bits */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** a fresh random 32-bit seed (used when a request gives none; reported back) */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
}

/** Per-request sampling state: its parameters, its generator and the token counts penalties need. */
export class RequestSampler {
  readonly config: SamplerConfig;
  readonly seed: number;
  /** the request's generator; device sampling (webgpu/sampling.ts) draws from the same stream */
  readonly rng: Rng;
  /** ids of prompt + generated (repetition penalty) */
  private readonly seen = new Set<number>();
  /** generated id -> count (frequency / presence penalty) */
  private readonly generatedCounts = new Map<number, number>();
  /** the processed row (penalties, masks), reused step to step: (vocab) */
  private scratch: Float64Array | null = null;

  constructor(config: SamplerConfig, seed: number, promptIds: readonly number[]) {
    validateSamplerConfig(config);
    this.config = config;
    this.seed = seed >>> 0;
    this.rng = new Rng(this.seed);
    for (const id of promptIds) this.seen.add(id);
  }

  get greedy(): boolean {
    return !(this.config.temperature > 0);
  }

  /** record a generated token (after it was chosen) */
  accept(id: number): void {
    this.seen.add(id);
    this.generatedCounts.set(id, (this.generatedCounts.get(id) ?? 0) + 1);
  }

  /**
   * Choose the next token from `logits` (vocab), which is not modified.
   * `topAlternatives` > 0 also returns that many best ids of the raw distribution.
   */
  sample(logits: Float32Array, topAlternatives = 0, mask?: Uint8Array): SampledToken {
    const c = this.config;
    const vocab = logits.length;
    const penalties = c.repetitionPenalty !== 1 || c.frequencyPenalty !== 0 || c.presencePenalty !== 0;
    if (mask && this.greedy && !penalties) {
      // structured output, greedy: the best allowed id; the normalizer stays the raw row's
      const logZ = argmaxLogSumExpF32(logits);
      const id = maskedArgmaxF32(logits, mask);
      const alternatives = topAlternatives > 0
        ? topIds(logits, Math.min(topAlternatives, vocab)).map((a) => ({ id: a, logprob: logits[a]! - logZ }))
        : [];
      return { id, logprob: logits[id]! - logZ, alternatives };
    }
    // otherwise a constraint's mask (structured output) works as a penalty: the disallowed logits become -Infinity
    const needsPenalty = penalties || mask !== undefined;
    let processed: Float32Array | Float64Array = logits;
    if (needsPenalty) {
      if (this.scratch?.length !== vocab) this.scratch = new Float64Array(vocab);
      const p = this.scratch;
      p.set(logits);
      if (mask) for (let i = 0; i < vocab; i++) if (!mask[i]) p[i] = -Infinity;
      if (c.repetitionPenalty !== 1) {
        for (const id of this.seen) {
          if (id < 0 || id >= vocab) continue;
          const l = p[id]!;
          p[id] = l > 0 ? l / c.repetitionPenalty : l * c.repetitionPenalty;
        }
      }
      if (c.frequencyPenalty !== 0 || c.presencePenalty !== 0) {
        for (const [id, count] of this.generatedCounts) {
          if (id < 0 || id >= vocab) continue;
          p[id] = p[id]! - c.frequencyPenalty * count - c.presencePenalty;
        }
      }
      processed = p;
    }

    let id: number;
    let logZ: number;
    if (this.greedy && !needsPenalty && logits instanceof Float32Array) {
      // the common case: one pass finds the argmax and the normalizer together
      logZ = argmaxLogSumExpF32(logits);
      id = fusedArgmax;
    } else {
      id = this.greedy ? argmax(processed) : this.draw(processed);
      logZ = logSumExp(logits, this.greedy && !needsPenalty ? logits[id]! : undefined);
    }
    const alternatives = topAlternatives > 0
      ? topIds(logits, Math.min(topAlternatives, vocab)).map((a) => ({ id: a, logprob: logits[a]! - logZ }))
      : [];
    return { id, logprob: logits[id]! - logZ, alternatives };
  }

  private draw(l: Float32Array | Float64Array): number {
    const c = this.config;
    const vocab = l.length;
    const invT = 1 / c.temperature;
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) if (l[i]! > max) max = l[i]!;

    // candidates sorted by logit (descending, ties to the lower id) when truncation is asked for
    let ids: Int32Array | null = null;
    let n = vocab;
    let sum = 0;
    let probs: Float64Array | null = null; // unnormalized exp((l - max) / T), in candidate order
    if (c.topK > 0 && c.topK < vocab) {
      ids = Int32Array.from(topIds(l, c.topK));
      n = ids.length;
    } else if (c.topP < 1) {
      // top_p alone: the nucleus is usually a few dozen ids, so sort only a growing head of the
      // row (the 64, then 512 best, while the head lacks the mass asked for) instead of the whole vocab;
      // the mass is relative to the whole row's sum
      let total = 0;
      for (let i = 0; i < vocab; i++) {
        const d = l[i]! - max;
        if (d === d) total += Math.exp(d * invT);
      }
      for (let k = 64; ; k *= 8) {
        if (k > 512 || k * 4 >= vocab) { ids = sortedIds(l); break; } // a flat distribution: sort it all
        const head = topIds(l, k);
        let acc = 0;
        let reached = false;
        for (let j = 0; j < head.length && !reached; j++) {
          acc += Math.exp((l[head[j]!]! - max) * invT) / total;
          reached = acc >= c.topP;
        }
        if (reached) { ids = Int32Array.from(head); break; }
      }
      n = ids.length;
      probs = new Float64Array(n);
      for (let j = 0; j < n; j++) probs[j] = Math.exp((l[ids[j]!]! - max) * invT);
      sum = total;
    }

    if (probs === null) {
      probs = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        const id = ids ? ids[j]! : j;
        const e = Math.exp((l[id]! - max) * invT);
        probs[j] = e;
        sum += e;
      }
    }
    if (c.topP < 1 && ids) {
      // keep the smallest prefix whose mass reaches topP (HF TopPLogitsWarper keeps the token that crosses it)
      let acc = 0;
      let keep = n;
      for (let j = 0; j < n; j++) {
        acc += probs[j]! / sum;
        if (acc >= c.topP) { keep = j + 1; break; }
      }
      n = keep;
      sum = 0;
      for (let j = 0; j < n; j++) sum += probs[j]!;
    }
    const typicalP = c.typicalP ?? 1;
    if (typicalP < 1) {
      const kept = typical(probs, n, sum, typicalP);
      const keptIds = new Int32Array(kept.length);
      const keptProbs = new Float64Array(kept.length);
      sum = 0;
      kept.forEach((j, k) => {
        keptIds[k] = ids ? ids[j]! : j;
        keptProbs[k] = probs![j]!;
        sum += probs![j]!;
      });
      ids = keptIds;
      probs = keptProbs;
      n = kept.length;
    }
    const r = this.rng.next() * sum;
    let acc = 0;
    for (let j = 0; j < n; j++) {
      acc += probs[j]!;
      if (r < acc) return ids ? ids[j]! : j;
    }
    // rounding: the last candidate with non-zero mass
    for (let j = n - 1; j >= 0; j--) if (probs[j]! > 0) return ids ? ids[j]! : j;
    return ids ? ids[0]! : argmax(l);
  }
}

/**
 * Typical decoding over candidates 0..n-1 with unnormalized probabilities `probs` (their sum
 * `sum`): with p_j = probs[j] / sum and the entropy H = -Σ p log p, the candidates sorted by
 * |−log p_j − H| ascending (ties to the lower index), the shortest prefix whose mass reaches
 * `mass` (the candidate crossing it included, at least one). Returns the kept candidate indices.
 */
export function typical(probs: Float64Array, n: number, sum: number, mass: number): number[] {
  let h = 0;
  for (let j = 0; j < n; j++) {
    const p = probs[j]! / sum;
    if (p > 0) h -= p * Math.log(p);
  }
  const score = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const p = probs[j]! / sum;
    score[j] = p > 0 ? Math.abs(-Math.log(p) - h) : Infinity;
  }
  const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => (score[a]! - score[b]!) || (a - b));
  const kept: number[] = [];
  let acc = 0;
  for (const j of order) {
    kept.push(j);
    acc += probs[j]! / sum;
    if (acc >= mass) break;
  }
  return kept;
}

/** index of the largest value, the lowest index on ties (NaN never wins) */
export function argmax(x: ArrayLike<number>): number {
  return x instanceof Float32Array ? argmaxF32(x) : argmaxAny(x);
}

// monomorphic copies: a loop over one typed-array kind is several times faster than over ArrayLike
function argmaxF32(x: Float32Array): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v > bestV) { bestV = v; best = i; }
  }
  return best;
}

/** argmax over the ids where mask[id] is 1 (lowest id on ties); 0 when none is */
function maskedArgmaxF32(x: Float32Array, mask: Uint8Array): number {
  let best = -1;
  let bestV = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (mask[i] === 0) continue;
    const v = x[i]!;
    if (best < 0 || v > bestV) { bestV = v; best = i; }
  }
  return best < 0 ? 0 : best;
}

function argmaxAny(x: ArrayLike<number>): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v > bestV) { bestV = v; best = i; }
  }
  return best;
}

// e^(-j/EXP_STEPS) for j <= 40·EXP_STEPS: logSumExp's exponentials are a table entry times a short
// Taylor series over less than 1/EXP_STEPS (relative error < 1e-13), ~3x faster than Math.exp
const EXP_STEPS = 64;
const EXP_CUTOFF = 40 * EXP_STEPS; // below e^-40 (< 5e-18) a term is nothing at double precision for any vocab
const EXP_TABLE = Float64Array.from({ length: EXP_CUTOFF + 1 }, (_, j) => Math.exp(-j / EXP_STEPS));

/** log Σ e^x; `max` may be given when the caller knows the largest value (a greedy pick) */
export function logSumExp(x: ArrayLike<number>, max?: number): number {
  if (max === undefined || Number.isNaN(max)) {
    max = -Infinity;
    for (let i = 0; i < x.length; i++) if (x[i]! > max) max = x[i]!;
  }
  if (max === -Infinity) return -Infinity;
  return max + Math.log(x instanceof Float32Array ? sumExpF32(x, max) : sumExpAny(x, max));
}

function sumExpF32(x: Float32Array, max: number): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const u = (max - x[i]!) * EXP_STEPS; // >= 0
    if (u < EXP_CUTOFF) {
      const j = u | 0;
      const f = (j - u) / EXP_STEPS; // in (-1/EXP_STEPS, 0]: e^-(u/EXP_STEPS) = table[j] · e^f
      s += EXP_TABLE[j]! * (1 + f * (1 + f * (0.5 + f * (1 / 6 + f * (1 / 24 + f * (1 / 120))))));
    }
  }
  return s;
}

/** argmaxLogSumExpF32's argmax (a module variable, so the hot call allocates nothing) */
let fusedArgmax = 0;

/**
 * One pass over a row: returns log Σ e^x and leaves the argmax (lowest id on ties, NaN never
 * wins) in `fusedArgmax`. The sum is kept relative to the running max and rescaled when the
 * max rises (a handful of times per row), so each element costs one table exponential.
 */
function argmaxLogSumExpF32(x: Float32Array): number {
  let best = 0;
  let max = -Infinity;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v > max) {
      s = s * Math.exp(max - v) + 1; // (0 · 0 when max was -Infinity)
      max = v;
      best = i;
    } else {
      const u = (max - v) * EXP_STEPS; // >= 0; NaN for NaN entries (skipped)
      if (u < EXP_CUTOFF) {
        const j = u | 0;
        const f = (j - u) / EXP_STEPS;
        s += EXP_TABLE[j]! * (1 + f * (1 + f * (0.5 + f * (1 / 6 + f * (1 / 24 + f * (1 / 120))))));
      }
    }
  }
  fusedArgmax = best;
  if (max === -Infinity) return -Infinity;
  if (max === Infinity) return NaN; // as logSumExp: +Infinity logits have no finite normalizer
  return max + Math.log(s);
}

function sumExpAny(x: ArrayLike<number>, max: number): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const u = (max - x[i]!) * EXP_STEPS;
    if (u < EXP_CUTOFF) {
      const j = u | 0;
      const f = (j - u) / EXP_STEPS;
      s += EXP_TABLE[j]! * (1 + f * (1 + f * (0.5 + f * (1 / 6 + f * (1 / 24 + f * (1 / 120))))));
    }
  }
  return s;
}

/** the k largest ids, best first, ties to the lower id (a min-heap over the row: O(V log k)) */
export function topIds(x: ArrayLike<number>, k: number): number[] {
  if (k <= 0) return [];
  const heap: number[] = []; // ids; heap[0] is the worst kept
  const worse = (a: number, b: number) => x[a]! < x[b]! || (x[a]! === x[b]! && a > b);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && worse(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && worse(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  let worstV = -Infinity; // value of heap[0] once the heap is full; -Infinity until then
  for (let id = 0; id < x.length; id++) {
    if (Number.isNaN(x[id]!)) continue;
    if (heap.length < k) {
      heap.push(id);
      for (let i = heap.length - 1; i > 0;) {
        const p = (i - 1) >> 1;
        if (!worse(heap[i]!, heap[p]!)) break;
        [heap[i], heap[p]] = [heap[p]!, heap[i]!];
        i = p;
      }
    } else if (x[id]! > worstV) { // ids come in increasing order: an equal value never displaces a kept lower id
      heap[0] = id;
      siftDown(0);
    } else {
      continue;
    }
    worstV = heap.length < k ? -Infinity : x[heap[0]!]!;
  }
  return heap.sort((a, b) => (x[b]! - x[a]!) || (a - b));
}

/** ids by value, best first, ties to the lower id */
function sortedIds(x: ArrayLike<number>): Int32Array {
  if (x instanceof Float32Array && x.length <= ID_SPAN) return sortedIdsF32(x);
  const ids = new Int32Array(x.length);
  for (let i = 0; i < ids.length; i++) ids[i] = i;
  return ids.sort((a, b) => (x[b]! - x[a]!) || (a - b));
}

const ID_SPAN = 2 ** 18; // ids packed below the value in one float64 sort key (vocab <= 262144)

/**
 * sortedIds for a float32 row without a comparator callback (~5x faster): each value's bits
 * become an unsigned integer in the values' order, inverted for "best first", and the key
 * (that order) * ID_SPAN + id (< 2^50, exact in a double) is sorted numerically by the engine.
 */
function sortedIdsF32(x: Float32Array): Int32Array {
  const n = x.length;
  const bits = new Uint32Array(x.buffer, x.byteOffset, n);
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = x[i] === 0 ? 0 : bits[i]!; // -0 ties with +0, as the comparator sees them
    const ordered = b >= 0x80000000 ? 0xffffffff - b : b + 0x80000000; // ascending with the value
    keys[i] = (0xffffffff - ordered) * ID_SPAN + i;
  }
  keys.sort();
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = keys[i]! % ID_SPAN;
  return ids;
}

/** Throws RangeError naming the field when a parameter is out of range. */
export function validateSamplerConfig(c: SamplerConfig): void {
  const bad = (field: string, why: string) => { throw new RangeError(`${field} ${why}`); };
  if (!Number.isFinite(c.temperature) || c.temperature < 0) bad("temperature", `must be >= 0, got ${c.temperature}`);
  if (!Number.isInteger(c.topK) || c.topK < 0) bad("top_k", `must be an integer >= 0 (0 = off), got ${c.topK}`);
  if (!(c.topP > 0 && c.topP <= 1)) bad("top_p", `must be in (0, 1], got ${c.topP}`);
  if (!(c.repetitionPenalty > 0) || !Number.isFinite(c.repetitionPenalty)) bad("repetition_penalty", `must be > 0, got ${c.repetitionPenalty}`);
  if (!Number.isFinite(c.frequencyPenalty) || Math.abs(c.frequencyPenalty) > 2) bad("frequency_penalty", `must be in [-2, 2], got ${c.frequencyPenalty}`);
  if (!Number.isFinite(c.presencePenalty) || Math.abs(c.presencePenalty) > 2) bad("presence_penalty", `must be in [-2, 2], got ${c.presencePenalty}`);
  if (c.typicalP !== undefined && !(c.typicalP > 0 && c.typicalP <= 1)) bad("typical_p", `must be in (0, 1], got ${c.typicalP}`);
}
