/**
 * The compute operations of the engine. Every backend (the TypeScript reference in
 * `reference.ts`, the native C++ one in `native.ts`) implements exactly these loops; tests run
 * each native op against the reference on random shapes.
 *
 * Conventions: all tensors are row-major Float32Array views; `(a, b)` in a shape comment means
 * a rows of b floats. Outputs are written in place; inputs are never modified unless stated.
 * Weights follow Hugging Face `nn.Linear`: W is (out, in) and y = x · Wᵀ.
 */
export interface Backend {
  readonly name: string;

  /**
   * out = x · Wᵀ
   *   x: (m, k), w: (n, k), out: (m, n)
   *   for i<m, j<n: out[i*n+j] = Σ_p x[i*k+p] * w[j*k+p]
   */
  matmul(out: Float32Array, x: Float32Array, w: Float32Array, m: number, k: number, n: number): void;

  /**
   * Optional: matmul with bf16 weights, fp32 activations and fp32 accumulation. w holds the raw
   * bf16 bit patterns (the high 16 bits of an fp32; see `toBf16` in ./bf16), so w[j*k+p] stands
   * for the fp32 value bf16ToF32(w[j*k+p]); otherwise exactly the loop of `matmul`. Halves the
   * bytes a memory-bound (decode) matmul streams.
   *   x: (m, k), w: (n, k), out: (m, n)
   */
  matmulBf16?(out: Float32Array, x: Float32Array, w: Uint16Array, m: number, k: number, n: number): void;

  /**
   * RMSNorm over rows, computed in fp32 like HF's LlamaRMSNorm:
   *   for i<rows: r = 1/sqrt(mean_j(x[i,j]^2) + eps); out[i,j] = weight[j] * (x[i,j] * r)
   *   x, out: (rows, dim), weight: (dim). out may alias x.
   */
  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): void;

  /**
   * Rotary embedding in place, HF "rotate_half" layout (first half / second half of each head):
   *   half = headDim/2; for token t, head h, i<half:
   *     f = positions[t] * invFreq[i]; c = cos(f); s = sin(f)   (angle computed in fp32 as HF does: f = pos * invFreq)
   *     a = x[t, h, i]; b = x[t, h, i+half]
   *     x[t, h, i] = a*c - b*s; x[t, h, i+half] = b*c + a*s
   *   x: (tokens, numHeads*headDim), positions: (tokens), invFreq: (headDim/2)
   */
  rope(x: Float32Array, positions: Int32Array, invFreq: Float32Array, tokens: number, numHeads: number, headDim: number): void;

  /**
   * SwiGLU activation: out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
   *   gate, up, out: (n). out may alias gate.
   */
  siluMul(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;

  /** y[i] += x[i] for i < n (residual add). */
  addInPlace(y: Float32Array, x: Float32Array, n: number): void;

  /**
   * Gather embedding rows: for t<tokens: out[t, :] = table[ids[t], :]
   *   table: (vocab, dim), ids: (tokens), out: (tokens, dim)
   */
  embed(out: Float32Array, table: Float32Array, ids: Int32Array, tokens: number, dim: number): void;

  /**
   * Write this step's keys/values into the paged cache.
   *   k, v: (tokens, kvDim); kCache, vCache: (numSlots, kvDim) with slot = block*blockSize + offset
   *   for t<tokens: kCache[slots[t], :] = k[t, :]; vCache[slots[t], :] = v[t, :]
   */
  kvWrite(kCache: Float32Array, vCache: Float32Array, k: Float32Array, v: Float32Array, slots: Int32Array, tokens: number, kvDim: number): void;

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
    out: Float32Array, q: Float32Array, kCache: Float32Array, vCache: Float32Array,
    blockTables: Int32Array, seqIndex: Int32Array, positions: Int32Array,
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
   */
  lora(
    y: Float32Array, x: Float32Array, k: number, n: number,
    segStarts: Int32Array, a: (Float32Array | null)[], b: (Float32Array | null)[],
    ranks: Int32Array, scales: Float32Array,
  ): void;
}
