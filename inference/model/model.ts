/**
 * The Llama/Mistral forward pass over one ForwardBatch, every op through the Backend. The base
 * projections run once over all T tokens; each adapter's LoRA delta is added per segment of
 * tokens that share it (SGMV), so N distinct adapters cost about as much as one.
 */
import type { Backend } from "../kernels/backend";
import { PROJECTIONS, type LoraWeights } from "../adapters/lora-weights";
import type { ForwardBatch } from "./batch";
import { parameterCount, type ModelConfig } from "./config";
import type { KvCache } from "./kv-cache";
import type { ModelWeights } from "./weights";

/** HF's default RoPE frequencies, in fp32 as torch computes them: 1 / theta^(2i/d) */
export function ropeInvFreq(headDim: number, theta: number): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const exponent = Math.fround(Math.fround(2 * i) / headDim);
    inv[i] = Math.fround(1 / Math.fround(Math.pow(theta, exponent)));
  }
  return inv;
}

/** per-step LoRA arguments of one (layer, projection), null when no segment adapts it */
interface LoraCall {
  a: (Float32Array | null)[];
  b: (Float32Array | null)[];
  ranks: Int32Array;
  scales: Float32Array;
}

export class Model {
  readonly parameters: number;
  private readonly invFreq: Float32Array;
  private capacity = 0;
  // scratch, grown to the largest T seen; views of length T*dim are taken per step
  private x = new Float32Array(0); // (T, hidden) residual stream
  private xn = new Float32Array(0); // (T, hidden) normed
  private q = new Float32Array(0); // (T, numHeads*headDim)
  private k = new Float32Array(0); // (T, numKvHeads*headDim)
  private v = new Float32Array(0); // (T, numKvHeads*headDim)
  private att = new Float32Array(0); // (T, numHeads*headDim)
  private proj = new Float32Array(0); // (T, hidden) o_proj / down_proj output
  private gate = new Float32Array(0); // (T, intermediate)
  private up = new Float32Array(0); // (T, intermediate)
  private rows = new Float32Array(0); // (R, hidden) the logits rows' hidden states
  private logits = new Float32Array(0); // (R, vocab) with reuseLogits

  constructor(readonly config: ModelConfig, readonly weights: ModelWeights, readonly backend: Backend) {
    this.parameters = parameterCount(config);
    this.invFreq = ropeInvFreq(config.headDim, config.ropeTheta);
  }

  private ensureCapacity(tokens: number): void {
    if (tokens <= this.capacity) return;
    const c = this.config;
    const n = Math.max(tokens, this.capacity * 2, 16);
    this.x = new Float32Array(n * c.hiddenSize);
    this.xn = new Float32Array(n * c.hiddenSize);
    this.q = new Float32Array(n * c.numHeads * c.headDim);
    this.k = new Float32Array(n * c.numKvHeads * c.headDim);
    this.v = new Float32Array(n * c.numKvHeads * c.headDim);
    this.att = new Float32Array(n * c.numHeads * c.headDim);
    this.proj = new Float32Array(n * c.hiddenSize);
    this.gate = new Float32Array(n * c.intermediateSize);
    this.up = new Float32Array(n * c.intermediateSize);
    this.capacity = n;
  }

  // LoRA arguments of the last batch, reused while the segments' adapters stay the same (decode
  // steps usually do), indexed by layer * PROJECTIONS.length + projection; null = not adapted
  private loraKey: (LoraWeights | null)[] = [];
  private loraArgs: (LoraCall | null)[] = [];

  /** LoRA arguments per layer and projection for this batch's segments */
  private loraCalls(adapters: (LoraWeights | null)[]): (LoraCall | null)[] {
    if (adapters.length === this.loraKey.length && adapters.every((a, i) => a === this.loraKey[i])) return this.loraArgs;
    const P = PROJECTIONS.length;
    const calls: (LoraCall | null)[] = new Array(this.config.numLayers * P).fill(null);
    const S = adapters.length;
    if (adapters.some((a) => a !== null)) {
      for (let l = 0; l < this.config.numLayers; l++) {
        PROJECTIONS.forEach((p, pi) => {
          let any = false;
          const call: LoraCall = { a: new Array(S).fill(null), b: new Array(S).fill(null), ranks: new Int32Array(S), scales: new Float32Array(S) };
          for (let s = 0; s < S; s++) {
            const pair = adapters[s]?.layers[l]?.[p];
            if (!pair) continue;
            call.a[s] = pair.a;
            call.b[s] = pair.b;
            call.ranks[s] = pair.r;
            call.scales[s] = pair.scale;
            any = true;
          }
          if (any) calls[l * P + pi] = call;
        });
      }
    }
    this.loraKey = adapters.slice();
    this.loraArgs = calls;
    return calls;
  }

  /** y (T, n) = x (T, k) · Wᵀ, plus the LoRA deltas of (layer, projection index) */
  private linear(y: Float32Array, x: Float32Array, w: Float32Array, T: number, k: number, n: number,
    lora: (LoraCall | null)[], layer: number, proj: number, segStarts: Int32Array): void {
    this.backend.matmul(y, x, w, T, k, n);
    const call = lora[layer * PROJECTIONS.length + proj];
    if (call) this.backend.lora(y, x, k, n, segStarts, call.a, call.b, call.ranks, call.scales);
  }

  /**
   * Runs the batch; returns the logits of `batch.logitRows`: (rows, vocab). With `reuseLogits`
   * they are a view of a buffer the next forward call overwrites (the engine loop, which samples
   * them at once, saves a (rows, vocab) allocation per step); otherwise a fresh array.
   */
  forward(batch: ForwardBatch, kv: KvCache, opts: { reuseLogits?: boolean } = {}): Float32Array {
    const c = this.config;
    const be = this.backend;
    const T = batch.tokens.length;
    const H = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const I = c.intermediateSize;
    if (T === 0) return new Float32Array(0);
    this.ensureCapacity(T);
    const x = this.x.subarray(0, T * H);
    const xn = this.xn.subarray(0, T * H);
    const q = this.q.subarray(0, T * qDim);
    const k = this.k.subarray(0, T * kvDim);
    const v = this.v.subarray(0, T * kvDim);
    const att = this.att.subarray(0, T * qDim);
    const proj = this.proj.subarray(0, T * H);
    const gate = this.gate.subarray(0, T * I);
    const up = this.up.subarray(0, T * I);
    const lora = this.loraCalls(batch.adapters);
    const seg = batch.segStarts;
    const scale = 1 / Math.sqrt(c.headDim);

    be.embed(x, this.weights.embed, batch.tokens, T, H);
    for (let l = 0; l < c.numLayers; l++) {
      const w = this.weights.layers[l];
      be.rmsNorm(xn, x, w.inputNorm, T, H, c.rmsNormEps);
      this.linear(q, xn, w.q, T, H, qDim, lora, l, 0 /* q_proj */, seg);
      this.linear(k, xn, w.k, T, H, kvDim, lora, l, 1 /* k_proj */, seg);
      this.linear(v, xn, w.v, T, H, kvDim, lora, l, 2 /* v_proj */, seg);
      be.rope(q, batch.positions, this.invFreq, T, c.numHeads, c.headDim);
      be.rope(k, batch.positions, this.invFreq, T, c.numKvHeads, c.headDim);
      be.kvWrite(kv.k[l], kv.v[l], k, v, batch.slots, T, kvDim);
      be.attention(att, q, kv.k[l], kv.v[l], batch.blockTables, batch.seqIndex, batch.positions,
        T, c.numHeads, c.numKvHeads, c.headDim, kv.blockSize, batch.maxBlocksPerSeq, c.slidingWindow, scale);
      this.linear(proj, att, w.o, T, qDim, H, lora, l, 3 /* o_proj */, seg);
      be.addInPlace(x, proj, T * H);
      be.rmsNorm(xn, x, w.postNorm, T, H, c.rmsNormEps);
      this.linear(gate, xn, w.gate, T, H, I, lora, l, 4 /* gate_proj */, seg);
      this.linear(up, xn, w.up, T, H, I, lora, l, 5 /* up_proj */, seg);
      be.siluMul(gate, gate, up, T * I);
      this.linear(proj, gate, w.down, T, I, H, lora, l, 6 /* down_proj */, seg);
      be.addInPlace(x, proj, T * H);
    }
    // only the wanted rows go through the final norm and the LM head
    const R = batch.logitRows.length;
    if (this.rows.length < R * H) this.rows = new Float32Array(Math.max(R, 16) * H);
    const rows = this.rows.subarray(0, R * H); // (R, hidden)
    for (let r = 0; r < R; r++) {
      const t = batch.logitRows[r];
      if (t < 0 || t >= T) throw new RangeError(`logitRows[${r}] = ${t} is outside the batch of ${T} tokens`);
      rows.set(x.subarray(t * H, (t + 1) * H), r * H);
    }
    be.rmsNorm(rows, rows, this.weights.finalNorm, R, H, c.rmsNormEps);
    let logits: Float32Array; // (R, vocab)
    if (opts.reuseLogits) {
      if (this.logits.length < R * c.vocabSize) this.logits = new Float32Array(Math.max(R, this.logits.length / c.vocabSize * 2, 8) * c.vocabSize);
      logits = this.logits.subarray(0, R * c.vocabSize);
    } else {
      logits = new Float32Array(R * c.vocabSize);
    }
    be.matmul(logits, rows, this.weights.lmHead, R, H, c.vocabSize);
    return logits;
  }
}
