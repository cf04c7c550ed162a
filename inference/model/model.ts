/**
 * The Llama/Mistral forward pass over one ForwardBatch, every op through the Backend, written
 * once for every backend: tensors are the backend's handles (host arrays on the CPU, buffers on
 * a GPU). The base projections run once over all T tokens; each adapter's LoRA delta is added
 * per segment of tokens that share it (SGMV), so N distinct adapters cost about as much as one.
 */
import type { Backend } from "../kernels/backend";
import type { HostWeight } from "../kernels/tensor";
import { PROJECTIONS, type LoraPair, type LoraWeights } from "../adapters/lora-weights";
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
interface LoraCall<F> {
  a: (F | null)[];
  b: (F | null)[];
  ranks: Int32Array;
  scales: Float32Array;
}

/** Uploads host weights to the backend, tensor by tensor (identity on host backends). */
export function uploadModelWeights<F, I, W>(be: Backend<F, I, W>, w: ModelWeights<HostWeight, Float32Array>): ModelWeights<W, F> {
  const embed = be.uploadWeight(w.embed);
  return {
    embed,
    layers: w.layers.map((l) => ({
      inputNorm: be.uploadF32(l.inputNorm),
      q: be.uploadWeight(l.q), k: be.uploadWeight(l.k), v: be.uploadWeight(l.v), o: be.uploadWeight(l.o),
      postNorm: be.uploadF32(l.postNorm),
      gate: be.uploadWeight(l.gate), up: be.uploadWeight(l.up), down: be.uploadWeight(l.down),
    })),
    finalNorm: be.uploadF32(w.finalNorm),
    lmHead: w.lmHead === w.embed ? embed : be.uploadWeight(w.lmHead),
  };
}

export class Model<F = Float32Array, I = Int32Array, W = HostWeight> {
  readonly parameters: number;
  /**
   * Where the backend has `matmulFused` (device backends): fold the residual adds into the
   * o_proj/down_proj outputs, and SiLU·mul into down_proj's input; off = the separate ops
   * (bench:gpu measures each).
   */
  readonly fusions = { residual: true, swiglu: true };
  private readonly invFreq: F; // (headDim/2)
  private capacity = 0;
  // scratch at capacity rows; each op is told how many rows it uses this step
  private x!: F; // (T, hidden) residual stream
  private xn!: F; // (T, hidden) normed
  private q!: F; // (T, numHeads*headDim)
  private k!: F; // (T, numKvHeads*headDim)
  private v!: F; // (T, numKvHeads*headDim)
  private att!: F; // (T, numHeads*headDim)
  private proj!: F; // (T, hidden) o_proj / down_proj output
  private gate!: F; // (T, intermediate)
  private up!: F; // (T, intermediate)
  private rowsCapacity = 0;
  private rows!: F; // (R, hidden) the logits rows' hidden states
  private logits!: F; // (R, vocab)

  constructor(readonly config: ModelConfig, readonly weights: ModelWeights<W, F>, readonly backend: Backend<F, I, W>) {
    this.parameters = parameterCount(config);
    this.invFreq = backend.uploadF32(ropeInvFreq(config.headDim, config.ropeTheta));
  }

  private ensureCapacity(tokens: number): void {
    if (tokens <= this.capacity) return;
    const c = this.config;
    const be = this.backend;
    const n = Math.max(tokens, this.capacity * 2, 16);
    if (this.capacity > 0) for (const t of [this.x, this.xn, this.q, this.k, this.v, this.att, this.proj, this.gate, this.up]) be.release(t);
    this.x = be.allocF32(n * c.hiddenSize);
    this.xn = be.allocF32(n * c.hiddenSize);
    this.q = be.allocF32(n * c.numHeads * c.headDim);
    this.k = be.allocF32(n * c.numKvHeads * c.headDim);
    this.v = be.allocF32(n * c.numKvHeads * c.headDim);
    this.att = be.allocF32(n * c.numHeads * c.headDim);
    this.proj = be.allocF32(n * c.hiddenSize);
    this.gate = be.allocF32(n * c.intermediateSize);
    this.up = be.allocF32(n * c.intermediateSize);
    this.capacity = n;
  }

  private ensureRows(rows: number): void {
    if (rows <= this.rowsCapacity) return;
    const be = this.backend;
    const n = Math.max(rows, this.rowsCapacity * 2, 8);
    if (this.rowsCapacity > 0) { be.release(this.rows); be.release(this.logits); }
    this.rows = be.allocF32(n * this.config.hiddenSize);
    this.logits = be.allocF32(n * this.config.vocabSize);
    this.rowsCapacity = n;
  }

  // LoRA arguments of the last batch, reused while the segments' adapters stay the same (decode
  // steps usually do), indexed by layer * PROJECTIONS.length + projection; null = not adapted
  private loraKey: (LoraWeights | null)[] = [];
  private loraArgs: (LoraCall<F> | null)[] = [];
  // GPU adapter slots: each adapter's A/B on the backend (the arrays themselves on host
  // backends), uploaded when the engine makes it resident and freed when it leaves
  private readonly adapterTensors = new Map<LoraWeights, Map<LoraPair, { a: F; b: F }>>();

  /**
   * Uploads an adapter's A/B now (idempotent). The engine calls it when the adapter becomes
   * resident, so the forward pass finds it in place; a forward pass uploads a missing one itself.
   */
  uploadAdapter(w: LoraWeights): void {
    if (this.adapterTensors.has(w)) return;
    const pairs = new Map<LoraPair, { a: F; b: F }>();
    for (const layer of w.layers) {
      for (const p of PROJECTIONS) {
        const pair = layer[p];
        if (pair) pairs.set(pair, { a: this.backend.uploadF32(pair.a), b: this.backend.uploadF32(pair.b) });
      }
    }
    this.adapterTensors.set(w, pairs);
  }

  /**
   * Frees an adapter's A/B on the backend (evicted or unregistered); the next use uploads it
   * again. A step already recorded with it still runs: device backends free after submitting.
   */
  releaseAdapter(w: LoraWeights): void {
    const pairs = this.adapterTensors.get(w);
    if (!pairs) return;
    this.adapterTensors.delete(w);
    for (const t of pairs.values()) { this.backend.release(t.a); this.backend.release(t.b); }
    if (this.loraKey.includes(w)) { this.loraKey = []; this.loraArgs = []; }
  }

  /** adapters whose A/B are on the backend */
  get uploadedAdapters(): number {
    return this.adapterTensors.size;
  }

  private loraTensors(w: LoraWeights, pair: LoraPair): { a: F; b: F } {
    this.uploadAdapter(w);
    return this.adapterTensors.get(w)!.get(pair)!;
  }

  /** LoRA arguments per layer and projection for this batch's segments */
  private loraCalls(adapters: (LoraWeights | null)[]): (LoraCall<F> | null)[] {
    if (adapters.length === this.loraKey.length && adapters.every((a, i) => a === this.loraKey[i])) return this.loraArgs;
    const P = PROJECTIONS.length;
    const calls: (LoraCall<F> | null)[] = new Array(this.config.numLayers * P).fill(null);
    const S = adapters.length;
    if (adapters.some((a) => a !== null)) {
      for (let l = 0; l < this.config.numLayers; l++) {
        PROJECTIONS.forEach((p, pi) => {
          let any = false;
          const call: LoraCall<F> = { a: new Array(S).fill(null), b: new Array(S).fill(null), ranks: new Int32Array(S), scales: new Float32Array(S) };
          for (let s = 0; s < S; s++) {
            const pair = adapters[s]?.layers[l]?.[p];
            if (!pair) continue;
            const t = this.loraTensors(adapters[s]!, pair);
            call.a[s] = t.a;
            call.b[s] = t.b;
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

  /** y (T, n) += the LoRA deltas of (layer, projection index) over x (T, k) */
  private loraDelta(y: F, x: F, k: number, n: number, lora: (LoraCall<F> | null)[], layer: number, proj: number, segStarts: Int32Array): void {
    const call = lora[layer * PROJECTIONS.length + proj];
    if (call) this.backend.lora(y, x, k, n, segStarts, call.a, call.b, call.ranks, call.scales);
  }

  /** y (T, n) = x (T, k) · Wᵀ, plus the LoRA deltas of (layer, projection index) */
  private linear(y: F, x: F, w: W, T: number, k: number, n: number,
    lora: (LoraCall<F> | null)[], layer: number, proj: number, segStarts: Int32Array): void {
    this.backend.matmul(y, x, w, T, k, n);
    const call = lora[layer * PROJECTIONS.length + proj];
    if (call) this.backend.lora(y, x, k, n, segStarts, call.a, call.b, call.ranks, call.scales);
  }

  /**
   * Runs the batch; returns the logits of `batch.logitRows` as a backend tensor of at least
   * (rows, vocab) floats, which the next forward call overwrites.
   */
  forwardTensor(batch: ForwardBatch, kv: KvCache<F>): F {
    const c = this.config;
    const be = this.backend;
    const T = batch.tokens.length;
    const H = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const I = c.intermediateSize;
    const R = batch.logitRows.length;
    for (let r = 0; r < R; r++) {
      const t = batch.logitRows[r];
      if (!(t >= 0 && t < T)) throw new RangeError(`logitRows[${r}] = ${t} is outside the batch of ${T} tokens`);
    }
    this.ensureCapacity(Math.max(T, 1));
    this.ensureRows(Math.max(R, 1));
    const { x, xn, q, k, v, att, proj, gate, up } = this;
    const lora = this.loraCalls(batch.adapters);
    const seg = batch.segStarts;
    const scale = 1 / Math.sqrt(c.headDim);
    // this step's tables (kept as they are by host backends)
    const tokens = be.uploadI32(batch.tokens);
    const positions = be.uploadI32(batch.positions);
    const slots = be.uploadI32(batch.slots);
    const blockTables = be.uploadI32(batch.blockTables);
    const seqIndex = be.uploadI32(batch.seqIndex);
    const logitRows = be.uploadI32(batch.logitRows);

    const fused = be.matmulFused ? be.matmulFused.bind(be) : null;
    be.embed(x, this.weights.embed, tokens, T, H);
    for (let l = 0; l < c.numLayers; l++) {
      const w = this.weights.layers[l];
      be.rmsNorm(xn, x, w.inputNorm, T, H, c.rmsNormEps);
      this.linear(q, xn, w.q, T, H, qDim, lora, l, 0 /* q_proj */, seg);
      this.linear(k, xn, w.k, T, H, kvDim, lora, l, 1 /* k_proj */, seg);
      this.linear(v, xn, w.v, T, H, kvDim, lora, l, 2 /* v_proj */, seg);
      be.rope(q, positions, this.invFreq, T, c.numHeads, c.headDim);
      be.rope(k, positions, this.invFreq, T, c.numKvHeads, c.headDim);
      be.kvWrite(kv.k[l], kv.v[l], k, v, slots, T, kvDim);
      be.attention(att, q, kv.k[l], kv.v[l], blockTables, seqIndex, positions,
        T, c.numHeads, c.numKvHeads, c.headDim, kv.blockSize, batch.maxBlocksPerSeq, c.slidingWindow, scale);
      if (fused && this.fusions.residual) {
        // x += att · Woᵀ (+ LoRA delta): the residual add in the matmul's output
        fused(x, att, w.o, T, qDim, H, { accumulate: true, up: null });
        this.loraDelta(x, att, qDim, H, lora, l, 3 /* o_proj */, seg);
      } else {
        this.linear(proj, att, w.o, T, qDim, H, lora, l, 3 /* o_proj */, seg);
        be.addInPlace(x, proj, T * H);
      }
      be.rmsNorm(xn, x, w.postNorm, T, H, c.rmsNormEps);
      this.linear(gate, xn, w.gate, T, H, I, lora, l, 4 /* gate_proj */, seg);
      this.linear(up, xn, w.up, T, H, I, lora, l, 5 /* up_proj */, seg);
      // SwiGLU in down_proj's input, unless an adapted down_proj needs silu(gate) * up itself (its LoRA input)
      const swiglu = fused && this.fusions.swiglu && !lora[l * PROJECTIONS.length + 6];
      if (!swiglu) be.siluMul(gate, gate, up, T * I);
      if (fused && this.fusions.residual) {
        // x += a · Wdownᵀ: the residual add in the matmul's output
        fused(x, gate, w.down, T, I, H, { accumulate: true, up: swiglu ? up : null });
        this.loraDelta(x, gate, I, H, lora, l, 6 /* down_proj */, seg);
      } else {
        if (swiglu) fused!(proj, gate, w.down, T, I, H, { accumulate: false, up });
        else this.linear(proj, gate, w.down, T, I, H, lora, l, 6 /* down_proj */, seg);
        be.addInPlace(x, proj, T * H);
      }
    }
    // only the wanted rows go through the final norm and the LM head
    be.gatherRows(this.rows, x, logitRows, R, H);
    be.rmsNorm(this.rows, this.rows, this.weights.finalNorm, R, H, c.rmsNormEps);
    be.matmul(this.logits, this.rows, this.weights.lmHead, R, H, c.vocabSize);
    for (const t of [tokens, positions, slots, blockTables, seqIndex, logitRows]) be.release(t);
    return this.logits;
  }

  /**
   * Runs the batch on a host backend; returns the logits of `batch.logitRows`: (rows, vocab).
   * With `reuseLogits` they are a view of a buffer the next forward call overwrites (the engine
   * loop, which samples them at once, saves a (rows, vocab) allocation per step); otherwise a
   * fresh array. Device backends use `forwardAsync`.
   */
  forward(batch: ForwardBatch, kv: KvCache<F>, opts: { reuseLogits?: boolean } = {}): Float32Array {
    if (batch.tokens.length === 0) return new Float32Array(0);
    const n = batch.logitRows.length * this.config.vocabSize;
    const out = this.backend.readF32(this.forwardTensor(batch, kv), n);
    if (out instanceof Promise) throw new TypeError(`forward: the ${this.backend.name} backend reads asynchronously; use forwardAsync`);
    return opts.reuseLogits ? out : out.slice(0, n);
  }

  /** the last forward call's first `rows` logits rows: (rows, vocab) */
  async readLogits(rows: number): Promise<Float32Array> {
    const n = rows * this.config.vocabSize;
    const out = await this.backend.readF32(this.logits, n);
    return out.slice(0, n);
  }

  /** `forward` for any backend: the logits rows read back to the host (a fresh array on device backends). */
  async forwardAsync(batch: ForwardBatch, kv: KvCache<F>, opts: { reuseLogits?: boolean } = {}): Promise<Float32Array> {
    if (batch.tokens.length === 0) return new Float32Array(0);
    const n = batch.logitRows.length * this.config.vocabSize;
    const out = await this.backend.readF32(this.forwardTensor(batch, kv), n);
    return opts.reuseLogits || this.backend.device !== "cpu" ? out : out.slice(0, n);
  }
}
