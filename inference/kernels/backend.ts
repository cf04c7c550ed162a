/**
 * The compute contract of the engine: operations over tensors the backend owns. Every backend
 * (the TypeScript reference in `reference.ts`, the native C++ one in `native.ts`, the WebGPU one
 * in `../webgpu/`) implements exactly these loops; tests run each op against the reference on
 * random shapes, and the model's forward pass (`../model/model.ts`) is written once against it.
 *
 * Tensors are handles of three kinds, chosen by the backend:
 *   F — an f32 tensor (activations, KV pools, norm weights, RoPE frequencies, LoRA A/B);
 *   I — an i32 tensor (per-step tables: token ids, positions, slots, block tables);
 *   W — a weight matrix in any `WeightFormat` (see ./tensor.ts for the layouts).
 * CPU backends use host memory at no extra cost: F = Float32Array, I = Int32Array, W = HostWeight,
 * and uploads return their argument. A GPU backend's handles are buffers in device memory:
 * weights go up once at load; per step only the I tables (and LoRA tables) go up, and only what
 * sampling needs comes back (`readF32` of the logits rows).
 *
 * Conventions: `(a, b)` in a shape comment means a rows of b elements, row-major. A tensor may be
 * larger than an op uses (scratch is allocated at capacity): ops read and write only the leading
 * elements their dims name. Outputs are written in place; inputs are never modified unless
 * stated. Weights follow Hugging Face `nn.Linear`: W is (n, k) = (out, in) and y = x · Wᵀ;
 * W[j, p] below means its f32 value as defined by `dequantRow` in ./tensor.ts.
 */
import type { HostWeight, WeightFormat } from "./tensor";

/** one logits row's sampling on the device: temperature 1/invT, a pre-drawn uniform, candidates wanted (<= 64) */
export interface RowSampleParams {
  invT: number;
  u: number | null;
  candidates: number;
}

/** what comes back of a row sampled on the device */
export interface RowSample {
  argmax: number;
  max: number;
  logZ: number;
  sumT: number;
  /** the drawn id (-1 when no u was given) and its logit */
  drawn: number;
  drawnLogit: number;
  /** the best `candidates` ids, best first, and their logits */
  ids: Int32Array;
  logits: Float32Array;
}

/** what a device backend reports about itself */
export interface DeviceInfo {
  adapter: string;
  /** bytes of device buffers held (weights, KV pool, scratch, adapters) */
  memoryInUseBytes: number;
  /** the device's memory when the platform reports it (see webgpu/memory.ts) */
  memoryTotalBytes: number | null;
}

/** the KV pool a device backend can hold, and the bound that decided it (one line, logged) */
export interface KvPoolPlan {
  numBlocks: number;
  bytes: number;
  reason: string;
}

export interface Backend<F = Float32Array, I = Int32Array, W = HostWeight> {
  readonly name: string;
  /** where the ops run */
  readonly device: "cpu" | "webgpu";
  /** the weight formats `matmul` and `embed` accept on this backend */
  readonly weightFormats: readonly WeightFormat[];

  // --- memory ---------------------------------------------------------------------------

  /** A zeroed f32 tensor of n elements. */
  allocF32(n: number): F;
  /** f32 data from the host (norm weights, RoPE frequencies, LoRA A/B); may keep `src` itself. */
  uploadF32(src: Float32Array): F;
  /** A per-step i32 table; may keep `src` itself (host backends do: no copy per step). */
  uploadI32(src: Int32Array): I;
  /** A weight matrix, uploaded once at load; may keep `w` itself. */
  uploadWeight(w: HostWeight): W;
  /**
   * The first n floats of `src` on the host. Host backends answer synchronously (possibly with a
   * view the next op may overwrite); device backends with a Promise.
   */
  readF32(src: F, n: number): Float32Array | Promise<Float32Array>;
  /** Frees what `release`'s handle holds at once (device memory); a no-op on host backends. */
  release(t: F | I | W): void;

  /**
   * Device backends: how many KV blocks fit (their memory and buffer limits, the memory fraction
   * they were opened with, what they already hold). Host backends leave it to the byte cap.
   */
  /** Device backends: the adapter's name and the device memory in use (the worker's /info, /metrics). */
  deviceInfo?(): DeviceInfo;

  /**
   * Device backends: sampling without reading the logits back (../webgpu/shaders/sample.ts has
   * the loops). For each of the first `rows` rows of `logits` (rows, vocab): the argmax, the max,
   * log Σ e^l, Σ e^((l-max)·invT), the `candidates` best ids with their logits (ties to the lower
   * id), and when `u` is given the id drawn without truncation at temperature 1/invT.
   */
  sampleRows?(logits: F, rows: number, vocab: number, params: readonly RowSampleParams[]): Promise<RowSample[]>;

  planKvPool?(p: { wantedBlocks: number; bytesPerBlock: number; bufferBytesPerBlock: number; capBytes: number | null }): KvPoolPlan;

  // --- ops ------------------------------------------------------------------------------

  /**
   * out = x · Wᵀ, W in any of `weightFormats`
   *   x: (m, k), w: (n, k), out: (m, n)
   *   for i<m, j<n: out[i*n+j] = Σ_p x[i*k+p] * W[j, p]
   */
  matmul(out: F, x: F, w: W, m: number, k: number, n: number): void;

  /**
   * Fused forms of `matmul` (device backends, where a dispatch and a pass over the activations
   * cost more than the arithmetic; the model falls back to the separate ops without it):
   *   a = up ? silu(x) * up : x                       (SwiGLU folded into down_proj's input)
   *   accumulate ? out += a · Wᵀ : out = a · Wᵀ        (the residual add folded into the output)
   *   x, up: (m, k), w: (n, k), out: (m, n)
   */
  matmulFused?(out: F, x: F, w: W, m: number, k: number, n: number, opts: { accumulate: boolean; up: F | null }): void;

  /**
   * RMSNorm over rows, computed in fp32 like HF's LlamaRMSNorm:
   *   for i<rows: r = 1/sqrt(mean_j(x[i,j]^2) + eps); out[i,j] = weight[j] * (x[i,j] * r)
   *   x, out: (rows, dim), weight: (dim). out may alias x.
   */
  rmsNorm(out: F, x: F, weight: F, rows: number, dim: number, eps: number): void;

  /**
   * Rotary embedding in place, HF "rotate_half" layout (first half / second half of each head):
   *   half = headDim/2; for token t, head h, i<half:
   *     f = positions[t] * invFreq[i]; c = cos(f); s = sin(f)   (angle computed in fp32 as HF does: f = pos * invFreq)
   *     a = x[t, h, i]; b = x[t, h, i+half]
   *     x[t, h, i] = a*c - b*s; x[t, h, i+half] = b*c + a*s
   *   x: (tokens, numHeads*headDim), positions: (tokens), invFreq: (headDim/2)
   */
  rope(x: F, positions: I, invFreq: F, tokens: number, numHeads: number, headDim: number): void;

  /**
   * SwiGLU activation: out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
   *   gate, up, out: (n). out may alias gate.
   */
  siluMul(out: F, gate: F, up: F, n: number): void;

  /** y[i] += x[i] for i < n (residual add). */
  addInPlace(y: F, x: F, n: number): void;

  /**
   * Gather embedding rows: for t<tokens: out[t, :] = table[ids[t], :] (as f32)
   *   table: (vocab, dim) in any of `weightFormats`, ids: (tokens), out: (tokens, dim)
   */
  embed(out: F, table: W, ids: I, tokens: number, dim: number): void;

  /**
   * Gather rows of an f32 tensor (the rows whose logits are wanted):
   *   for r<count: out[r, :] = x[rows[r], :]      x: (T, dim), rows: (count), out: (count, dim)
   */
  gatherRows(out: F, x: F, rows: I, count: number, dim: number): void;

  /**
   * Write this step's keys/values into the paged cache.
   *   k, v: (tokens, kvDim); kCache, vCache: (numSlots, kvDim) with slot = block*blockSize + offset
   *   for t<tokens: kCache[slots[t], :] = k[t, :]; vCache[slots[t], :] = v[t, :]
   */
  kvWrite(kCache: F, vCache: F, k: F, v: F, slots: I, tokens: number, kvDim: number): void;

  /**
   * Causal attention over the paged cache (GQA, optional sliding window), after kvWrite.
   *   q, out: (tokens, numHeads*headDim); kCache, vCache: (numSlots, numKvHeads*headDim)
   *   blockTables: (numSeqs, maxBlocksPerSeq) block ids; seqIndex[t]: row of t's sequence;
   *   positions[t]: t's position in its sequence. Token t at position p attends to the cached
   *   positions j of its sequence with j <= p and (window == 0 || j > p - window).
   *   for t, h: g = floor(h / (numHeads/numKvHeads))
   *     slot(j) = blockTables[seqIndex[t]*maxBlocksPerSeq + floor(j/blockSize)]*blockSize + j%blockSize
   *     s_j = scale * Σ_d q[t,h,d] * kCache[slot(j), g, d]
   *     out[t,h,:] = Σ_j softmax(s)_j * vCache[slot(j), g, :]
   */
  attention(
    out: F, q: F, kCache: F, vCache: F,
    blockTables: I, seqIndex: I, positions: I,
    tokens: number, numHeads: number, numKvHeads: number, headDim: number,
    blockSize: number, maxBlocksPerSeq: number, window: number, scale: number,
  ): void;

  /**
   * Segmented LoRA (SGMV, Punica): for each segment s of consecutive token rows sharing one
   * adapter, shrink to its rank then expand back, added into y:
   *   for s < segStarts.length-1, for t in [segStarts[s], segStarts[s+1]) when a[s] !== null:
   *     h[i] = Σ_p x[t,p] * a[s][i*k+p]                 (i < ranks[s])     shrink: x · Aᵀ
   *     y[t,j] += scales[s] * Σ_i h[i] * b[s][j*r+i]     (j < n, r = ranks[s]) expand: · Bᵀ
   *   x: (tokens, k), y: (tokens, n), a[s]: (r_s, k), b[s]: (n, r_s)
   * The segment table (segStarts, ranks, scales) is host data: the backend needs it to plan
   * the dispatch; a device backend uploads it with the step.
   */
  lora(
    y: F, x: F, k: number, n: number,
    segStarts: Int32Array, a: (F | null)[], b: (F | null)[],
    ranks: Int32Array, scales: Float32Array,
  ): void;
}

/** The backends whose tensors are host arrays (reference, native). */
export type HostBackend = Backend<Float32Array, Int32Array, HostWeight>;
