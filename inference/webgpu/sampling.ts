/**
 * Sampling on the device: which rows can be sampled from what `Backend.sampleRows` sends back
 * (the argmax, normalizers and up to 64 candidates, not the vocabulary), and the same choice
 * the CPU sampler (engine/sampler.ts) makes from the full row, drawing from the request's own
 * generator in the same order (one draw per sampled token):
 *   greedy                         → the argmax (ids equal the CPU's; logprobs within f32 sums)
 *   top_k <= 64 (+ top_p, typical)  → the CPU's draw over the k candidates: the same id for the same seed
 *   top_p alone                    → the CPU's head of 64 when it holds the mass; else the full row
 *   temperature alone              → drawn on the device with a uniform taken from the generator
 *                                    before the step (equal but for a draw within f32 rounding of a boundary)
 * Penalties, structured output and typical_p without truncation need the full row: such a step
 * reads the logits back as before.
 */
import type { Backend, RowSample, RowSampleParams } from "../kernels/backend";
import type { ForwardBatch } from "../model/batch";
import type { KvCache } from "../model/kv-cache";
import type { Model } from "../model/model";
import { typical, type RequestSampler, type SampledToken } from "../engine/sampler";
import { SAMPLE_MAX_CANDIDATES } from "./shaders/sample";

/** one logits row to sample: its request's sampler, the alternatives it reports, whether a constraint masks it */
export interface DeviceRow {
  sampler: RequestSampler;
  topAlternatives: number;
  constrained: boolean;
}

/** the CPU sampler's top_p head (engine/sampler.ts: the 64 best first) */
const TOP_P_HEAD = 64;

/** Whether every row can be sampled on the device (else the step reads its logits back). */
export function canSampleOnDevice(rows: readonly DeviceRow[], vocab: number): boolean {
  return rows.every((r) => plan(r, vocab) !== null);
}

type Plan = "greedy" | "topk" | "topp" | "temperature";

function plan(r: DeviceRow, vocab: number): Plan | null {
  const c = r.sampler.config;
  if (r.constrained || c.repetitionPenalty !== 1 || c.frequencyPenalty !== 0 || c.presencePenalty !== 0) return null;
  if (r.topAlternatives > SAMPLE_MAX_CANDIDATES) return null;
  if (r.sampler.greedy) return "greedy";
  if (c.topK > 0 && c.topK < vocab) return c.topK <= SAMPLE_MAX_CANDIDATES ? "topk" : null;
  // the CPU sorts the whole row when its head is a quarter of the vocabulary or more
  if (c.topP < 1) return TOP_P_HEAD * 4 < vocab ? "topp" : null;
  if ((c.typicalP ?? 1) < 1) return null;
  return "temperature";
}

/**
 * Runs the step and samples every row on the device; `rows` are the batch's logits rows in order
 * and must pass `canSampleOnDevice`.
 */
export async function forwardAndSample<F, I, W>(
  model: Model<F, I, W>, batch: ForwardBatch, kv: KvCache<F>, rows: readonly DeviceRow[],
): Promise<SampledToken[]> {
  if (batch.tokens.length === 0) return [];
  const logits = model.forwardTensor(batch, kv);
  return sampleOnDevice(model.backend, logits, model.config.vocabSize, rows, () => model.readLogits(rows.length));
}

/**
 * Samples the first rows.length rows of `logits` (rows, vocab) on the device. A top_p row whose
 * head of 64 lacks the mass is sampled by the CPU sampler from the full rows (`readFull`; its
 * generator has not been drawn from).
 */
export async function sampleOnDevice<F, I, W>(
  be: Backend<F, I, W>, logits: F, vocab: number, rows: readonly DeviceRow[], readFull: () => Promise<Float32Array>,
): Promise<SampledToken[]> {
  if (!be.sampleRows) throw new TypeError(`the ${be.name} backend does not sample on the device`);
  const plans = rows.map((r) => {
    const p = plan(r, vocab);
    if (p === null) throw new RangeError("sampleOnDevice: a row needs its full logits (check canSampleOnDevice first)");
    return p;
  });
  const params: RowSampleParams[] = rows.map((r, i) => ({
    invT: r.sampler.greedy ? 1 : 1 / r.sampler.config.temperature,
    // temperature alone: the generator's next draw, taken now (the CPU takes it after the row)
    u: plans[i] === "temperature" ? r.sampler.rng.next() : null,
    candidates: Math.max(r.topAlternatives, plans[i] === "topk" ? r.sampler.config.topK : plans[i] === "topp" ? TOP_P_HEAD : 0),
  }));
  const samples = await be.sampleRows(logits, rows.length, vocab, params);
  const out: (SampledToken | null)[] = samples.map((s, i) => pick(rows[i]!, plans[i]!, s));
  if (out.some((t) => t === null)) {
    const full = await readFull(); // (rows, vocab)
    out.forEach((t, i) => {
      if (t === null) out[i] = rows[i]!.sampler.sample(full.subarray(i * vocab, (i + 1) * vocab), rows[i]!.topAlternatives);
    });
  }
  return out as SampledToken[];
}

/** the CPU sampler's choice from a row's device summary; null when it needs the full row */
function pick(r: DeviceRow, p: Plan, s: RowSample): SampledToken | null {
  let id: number;
  let logit: number;
  if (p === "greedy") {
    id = s.argmax;
    logit = s.max;
  } else if (p === "temperature") {
    id = s.drawn;
    logit = s.drawnLogit;
  } else {
    const j = drawFromCandidates(r.sampler, p, s);
    if (j === null) return null;
    id = s.ids[j]!;
    logit = s.logits[j]!;
  }
  const alternatives: { id: number; logprob: number }[] = [];
  for (let j = 0; j < r.topAlternatives && j < s.ids.length; j++) alternatives.push({ id: s.ids[j]!, logprob: s.logits[j]! - s.logZ });
  return { id, logprob: logit - s.logZ, alternatives };
}

/**
 * engine/sampler.ts `draw` over the candidates (index into s.ids), step for step: top_k (the k
 * best) or top_p's head, the top_p prefix, typical_p, then one draw from the generator.
 */
function drawFromCandidates(sampler: RequestSampler, p: "topk" | "topp", s: RowSample): number | null {
  const c = sampler.config;
  const invT = 1 / c.temperature;
  const max = s.max;
  let n: number;
  let sum = 0;
  let probs: Float64Array;
  if (p === "topk") {
    n = c.topK;
    probs = new Float64Array(n);
    for (let j = 0; j < n; j++) { probs[j] = Math.exp((s.logits[j]! - max) * invT); sum += probs[j]!; }
  } else {
    // the head holds the mass (relative to the whole row's sum), or the CPU would look further
    const total = s.sumT;
    let acc = 0;
    let reached = false;
    for (let j = 0; j < TOP_P_HEAD && !reached; j++) {
      acc += Math.exp((s.logits[j]! - max) * invT) / total;
      reached = acc >= c.topP;
    }
    if (!reached) return null;
    n = TOP_P_HEAD;
    probs = new Float64Array(n);
    for (let j = 0; j < n; j++) probs[j] = Math.exp((s.logits[j]! - max) * invT);
    sum = total;
  }
  let idx: number[] | null = null; // candidate indices kept by typical_p
  if (c.topP < 1) {
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
  if ((c.typicalP ?? 1) < 1) {
    idx = typical(probs, n, sum, c.typicalP!);
    const kept = new Float64Array(idx.length);
    sum = 0;
    idx.forEach((j, k) => { kept[k] = probs[j]!; sum += probs[j]!; });
    probs = kept;
    n = idx.length;
  }
  const at = (k: number) => (idx ? idx[k]! : k);
  const r = sampler.rng.next() * sum;
  let acc = 0;
  for (let k = 0; k < n; k++) {
    acc += probs[k]!;
    if (r < acc) return at(k);
  }
  for (let k = n - 1; k >= 0; k--) if (probs[k]! > 0) return at(k);
  return at(0);
}
