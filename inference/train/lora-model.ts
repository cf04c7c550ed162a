/**
 * The Llama/Mistral forward pass for training (frozen base, trainable LoRA A/B on the chosen
 * projections), keeping what the backward needs, and the backward to A and B only.
 *
 * Same math as the inference engine's Model.forward (inference/model/model.ts) on a packed,
 * padding-free batch: the sequences are contiguous runs of tokens, each attending causally to
 * itself only. Logits are computed only for the rows that have a target (the output tokens),
 * so the LM head costs rows × vocab, not tokens × vocab.
 *
 * Matmul layouts: the forward is y = x·Wᵀ; the backward needs dX = dY·W (the x·wᵀ kernel on
 * the base weights transposed once) and the LoRA products dY·B, dYᵀ·H, dHᵀ·X, dH·A (gemm's nn
 * and tn layouts: no per-step transposes).
 */
import { PROJECTIONS, type Projection } from "../adapters/lora-weights";
import { projectionShape } from "../adapters/peft";
import type { ModelConfig } from "../model/config";
import { ropeInvFreq } from "../model/model";
import type { BaseWeights } from "./base-weights";
import { gemm, matmul } from "./matmul";
import { attentionBackwardMM, attentionForwardMM, AttentionScratch } from "./attention-mm";
import { crossEntropy, dropoutIndices, loraDropBackward, loraDropForward, rmsNormBackward, rmsNormForward, rope, siluMulBackward, siluMulForward, type AttnShape } from "./ops";
import { alloc, axpy, cast, transpose, type Buf, type Dtype, type Rng } from "./tensor";

export interface LoraSpec {
  r: number;
  alpha: number;
  /** dropout probability on the LoRA input (0 = none) */
  dropout: number;
  targets: readonly Projection[];
}

/** One trainable (layer, projection): delta(x) = scale · (dropout(x) · Aᵀ) · Bᵀ */
export interface LoraParam {
  layer: number;
  proj: Projection;
  inF: number;
  outF: number;
  a: Buf; // (r, inF)
  b: Buf; // (outF, r)
  ga: Buf; // (r, inF) gradient, accumulated until zeroGrads
  gb: Buf; // (outF, r)
}

/** A packed batch: S sequences of contiguous tokens, and the rows that predict a target. */
export interface PackedBatch {
  tokens: Int32Array; // (T)
  positions: Int32Array; // (T) position within its sequence
  seqStarts: Int32Array; // (S+1) sequence s is tokens [seqStarts[s], seqStarts[s+1])
  targetRows: Int32Array; // (R) token index whose logits predict targets[r]
  targets: Int32Array; // (R) token ids
}

interface LinCache {
  x: Buf; // (T, in) the projection's input (shared by q/k/v and by gate/up: not copied)
  drops: Int32Array | null; // flat indices t*in + i that dropout zeroed in the LoRA input
  h: Buf; // (T, r) dropout(x) · Aᵀ
  bT: Buf; // (r, out) Bᵀ of this step
}

interface LayerCache {
  xIn: Buf; // (T, H) residual stream entering the layer
  rstd1: Buf; // (T)
  xn1: Buf; // (T, H)
  q: Buf; // (T, nH*d) after RoPE
  k: Buf; // (T, nKv*d) after RoPE
  v: Buf; // (T, nKv*d)
  att: Buf; // (T, nH*d)
  lse: Buf; // (T, nH)
  xMid: Buf; // (T, H) after the attention residual
  rstd2: Buf; // (T)
  xn2: Buf; // (T, H)
  gate: Buf; // (T, I)
  up: Buf; // (T, I)
  act: Buf; // (T, I) silu(gate)·up
  sig: Buf; // (T, I) σ(gate)
  lin: (LinCache | null)[]; // per projection index
}

interface BaseLayer {
  inputNorm: Buf;
  postNorm: Buf;
  w: Buf[]; // per projection index, (out, in)
  wT: (Buf | null)[]; // (in, out), made on first backward
}

export class LoraTrainModel {
  readonly params: LoraParam[] = [];
  /** params by layer * 7 + projection index (null = not adapted) */
  private readonly byLayer: (LoraParam | null)[];
  readonly scale: number;
  private readonly layers: BaseLayer[];
  private readonly embed: Buf; // (V, H)
  private readonly finalNorm: Buf; // (H)
  private readonly lmHead: Buf; // (V, H)
  private lmHeadT: Buf | null = null; // (H, V)
  private readonly invFreq: Float32Array;
  private readonly attn: AttnShape;
  /** temporaries consumed within one call, by role: grown, never shrunk, not zeroed */
  private readonly scratchBufs = new Map<string, Buf>();
  private readonly attnScratch: AttentionScratch;

  private scratch(role: string, n: number): Buf {
    let b = this.scratchBufs.get(role);
    if (!b || b.length < n) {
      b = alloc(this.dtype, Math.max(n, Math.ceil((b?.length ?? 0) * 1.5)));
      this.scratchBufs.set(role, b);
    }
    return b.length === n ? b : b.subarray(0, n);
  }

  /** per-(layer, role) buffers of the forward's caches, reused by every call (each is written
   *  whole before it is read): no fresh ~200 MB of zeroed arrays and their GC per step */
  private lbuf(l: number, role: string, n: number): Buf {
    return this.scratch(`${l}:${role}`, n);
  }
  private readonly dropBufs = new Map<string, Int32Array>();

  private zeroed(role: string, n: number): Buf {
    const b = this.scratch(role, n);
    b.fill(0);
    return b;
  }

  constructor(readonly config: ModelConfig, weights: BaseWeights, readonly spec: LoraSpec, readonly dtype: Dtype = "f32") {
    const c = config;
    const conv = (w: Float32Array): Buf => (dtype === "f32" ? w : cast(w, "f64"));
    this.embed = conv(weights.embed);
    this.finalNorm = conv(weights.finalNorm);
    this.lmHead = weights.lmHead === weights.embed ? this.embed : conv(weights.lmHead);
    this.layers = weights.layers.map((lw) => ({
      inputNorm: conv(lw.inputNorm),
      postNorm: conv(lw.postNorm),
      w: [lw.q, lw.k, lw.v, lw.o, lw.gate, lw.up, lw.down].map(conv),
      wT: new Array<Buf | null>(PROJECTIONS.length).fill(null),
    }));
    this.invFreq = ropeInvFreq(c.headDim, c.ropeTheta);
    this.attn = { numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, window: c.slidingWindow, scale: 1 / Math.sqrt(c.headDim) };
    this.scale = spec.alpha / spec.r;
    this.attnScratch = new AttentionScratch(dtype);
    this.byLayer = new Array(c.numLayers * PROJECTIONS.length).fill(null);
    for (let l = 0; l < c.numLayers; l++) {
      PROJECTIONS.forEach((proj, pi) => {
        if (!spec.targets.includes(proj)) return;
        const [inF, outF] = projectionShape(c, proj);
        const p: LoraParam = {
          layer: l, proj, inF, outF,
          a: alloc(dtype, spec.r * inF), b: alloc(dtype, outF * spec.r),
          ga: alloc(dtype, spec.r * inF), gb: alloc(dtype, outF * spec.r),
        };
        this.params.push(p);
        this.byLayer[l * PROJECTIONS.length + pi] = p;
      });
    }
  }

  /**
   * PEFT's default init: A ~ kaiming_uniform(a=√5) = U(−1/√in, 1/√in), B = 0 (so the adapter
   * starts as the identity on the base model).
   */
  initLora(rng: Rng): void {
    for (const p of this.params) {
      const bound = 1 / Math.sqrt(p.inF);
      for (let i = 0; i < p.a.length; i++) p.a[i] = (rng.next() * 2 - 1) * bound;
      p.b.fill(0);
    }
  }

  zeroGrads(): void {
    for (const p of this.params) {
      p.ga.fill(0);
      p.gb.fill(0);
    }
  }

  /** Number of trainable parameters. */
  get trainableCount(): number {
    return this.params.reduce((n, p) => n + p.a.length + p.b.length, 0);
  }

  private wT(l: number, pi: number): Buf {
    const L = this.layers[l];
    let t = L.wT[pi];
    if (!t) {
      const w = L.w[pi];
      const proj = PROJECTIONS[pi];
      const [inF, outF] = projectionShape(this.config, proj);
      t = transpose(alloc(this.dtype, w.length), w, outF, inF);
      L.wT[pi] = t;
    }
    return t;
  }

  /**
   * y (T, out) = x·Wᵀ + scale·(dropout(x)·Aᵀ)·Bᵀ. With dropout, xd = x ⊙ keep / (1 − p) is never
   * made: h = (x·Aᵀ − Σ_dropped x[t,i]·A[:,i]) / (1 − p), a sparse correction (p·T·in·r).
   */
  private linearForward(y: Buf, x: Buf, l: number, pi: number, T: number, rng: Rng | null): LinCache | null {
    const [k, n] = projectionShape(this.config, PROJECTIONS[pi]);
    matmul(y, x, this.layers[l].w[pi], T, k, n);
    const p = this.byLayer[l * PROJECTIONS.length + pi];
    if (!p) return null;
    const r = this.spec.r;
    const h = this.lbuf(l, `h${pi}`, T * r);
    matmul(h, x, p.a, T, k, r);
    let drops: Int32Array | null = null;
    if (rng && this.spec.dropout > 0) {
      const key = `${l}:${pi}`;
      const prev = this.dropBufs.get(key);
      drops = dropoutIndices(T * k, this.spec.dropout, () => rng.next(), prev ? new Int32Array(prev.buffer) : undefined);
      this.dropBufs.set(key, drops);
      loraDropForward(h, x, p.a, drops, k, r);
      const sd = 1 / (1 - this.spec.dropout);
      for (let i = 0; i < h.length; i++) h[i] *= sd;
    }
    const bT = transpose(this.lbuf(l, `bT${pi}`, r * n), p.b, n, r); // (r, n), kept for the backward
    gemm("nn", y, h, bT, T, r, n, this.scale, true); // y += scale · h·Bᵀ
    return { x, drops, h, bT };
  }

  /**
   * dx (T, in) += dy·W + the LoRA path's input gradient; ga, gb += the LoRA gradients:
   *   dh = s·dy·B;  gB += s·dyᵀ·h;  gA += dhᵀ·xd;  dx += dropout'(dh·A)
   * with xd = dropout(x) applied as sparse corrections at the dropped positions. The layouts
   * run as gemm's nn / tn kernels: no transposed copies (W's transpose is made once).
   * overwrite: dx holds garbage and this is its first gradient (dx = instead of dx +=).
   */
  private linearBackward(dx: Buf, dy: Buf, l: number, pi: number, T: number, cache: LinCache | null, overwrite = false): void {
    const [k, n] = projectionShape(this.config, PROJECTIONS[pi]);
    gemm("nt", dx, dy, this.wT(l, pi), T, n, k, 1, !overwrite); // dx (+)= dy·W, W (n, k) as wT (k, n)
    const p = this.byLayer[l * PROJECTIONS.length + pi];
    if (!p || !cache) return;
    const r = this.spec.r;
    const s = this.scale;
    const drops = cache.drops;
    const sd = drops ? 1 / (1 - this.spec.dropout) : 1;
    const dh = this.scratch("dh", T * r); // (T, r) = s · dy (T, n) · B (n, r), as dy·(Bᵀ)ᵀ: dot products along n
    gemm("nt", dh, dy, cache.bT, T, n, r, s, false);
    gemm("tn", p.gb, dy, cache.h, n, T, r, s, true); // gB (n, r) += s · dyᵀ · h
    gemm("tn", p.ga, dh, cache.x, r, T, k, sd, true); // gA (r, k) += sd · dhᵀ · x, dropped terms next
    const dxl = this.scratch("in", T * k); // (T, k) = dh · A
    gemm("nn", dxl, dh, p.a, T, r, k, 1, false);
    if (drops) loraDropBackward(p.ga, dxl, dh, cache.x, drops, k, r, sd);
    axpy(dx, sd, dxl, T * k);
  }

  /** Runs the layers; returns the final residual stream (T, H) and the caches (when kept). */
  private layersForward(batch: PackedBatch, rng: Rng | null, keep: boolean): { x: Buf; caches: LayerCache[] } {
    const c = this.config;
    const T = batch.tokens.length;
    const H = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const I = c.intermediateSize;
    let x = this.lbuf(-1, "x", T * H);
    for (let t = 0; t < T; t++) {
      const src = batch.tokens[t] * H;
      for (let j = 0; j < H; j++) x[t * H + j] = this.embed[src + j];
    }
    const caches: LayerCache[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const L = this.layers[l];
      const rstd1 = this.lbuf(l, "rstd1", T);
      const xn1 = this.lbuf(l, "xn1", T * H);
      rmsNormForward(xn1, rstd1, x, L.inputNorm, T, H, c.rmsNormEps);
      const q = this.lbuf(l, "q", T * qDim), k = this.lbuf(l, "k", T * kvDim), v = this.lbuf(l, "v", T * kvDim);
      const lin: (LinCache | null)[] = new Array(PROJECTIONS.length).fill(null);
      lin[0] = this.linearForward(q, xn1, l, 0, T, rng);
      lin[1] = this.linearForward(k, xn1, l, 1, T, rng);
      lin[2] = this.linearForward(v, xn1, l, 2, T, rng);
      rope(q, batch.positions, this.invFreq, T, c.numHeads, c.headDim);
      rope(k, batch.positions, this.invFreq, T, c.numKvHeads, c.headDim);
      const att = this.lbuf(l, "att", T * qDim);
      const lse = this.lbuf(l, "lse", T * c.numHeads);
      attentionForwardMM(att, lse, q, k, v, batch.seqStarts, this.attn, this.attnScratch);
      const proj = this.scratch("proj", T * H);
      lin[3] = this.linearForward(proj, att, l, 3, T, rng);
      const xMid = this.lbuf(l, "xMid", T * H);
      xMid.set(x);
      axpy(xMid, 1, proj, T * H);
      const rstd2 = this.lbuf(l, "rstd2", T);
      const xn2 = this.lbuf(l, "xn2", T * H);
      rmsNormForward(xn2, rstd2, xMid, L.postNorm, T, H, c.rmsNormEps);
      const gate = this.lbuf(l, "gate", T * I), up = this.lbuf(l, "up", T * I), act = this.lbuf(l, "act", T * I), sig = this.lbuf(l, "sig", T * I);
      lin[4] = this.linearForward(gate, xn2, l, 4, T, rng);
      lin[5] = this.linearForward(up, xn2, l, 5, T, rng);
      siluMulForward(act, sig, gate, up, T * I);
      lin[6] = this.linearForward(proj, act, l, 6, T, rng);
      const xOut = this.lbuf(l, "xOut", T * H);
      xOut.set(xMid);
      axpy(xOut, 1, proj, T * H);
      if (keep) caches.push({ xIn: x, rstd1, xn1, q, k, v, att, lse, xMid, rstd2, xn2, gate, up, act, sig, lin });
      x = xOut;
    }
    return { x, caches };
  }

  /** final norm + LM head of the given rows: (R, V) logits, and what the backward needs */
  private head(x: Buf, rows: Int32Array): { logits: Buf; xr: Buf; rstd: Buf } {
    const c = this.config;
    const H = c.hiddenSize;
    const R = rows.length;
    const xr = alloc(this.dtype, R * H); // (R, H) the rows' residual stream
    for (let r = 0; r < R; r++) xr.set(x.subarray(rows[r] * H, (rows[r] + 1) * H), r * H);
    const xf = alloc(this.dtype, R * H);
    const rstd = alloc(this.dtype, R);
    rmsNormForward(xf, rstd, xr, this.finalNorm, R, H, c.rmsNormEps);
    const logits = alloc(this.dtype, R * c.vocabSize);
    matmul(logits, xf, this.lmHead, R, H, c.vocabSize);
    return { logits, xr, rstd };
  }

  /** Logits (R, V) of the batch's target rows, no dropout, nothing kept. */
  logits(batch: PackedBatch): Buf {
    const { x } = this.layersForward(batch, null, false);
    return this.head(x, batch.targetRows).logits;
  }

  /** Sum of −log p(target) over the batch (no dropout, no gradients): validation. */
  lossSum(batch: PackedBatch): number {
    const logits = this.logits(batch);
    return crossEntropy(logits, batch.targets, batch.targets.length, this.config.vocabSize, 0);
  }

  /**
   * Forward with dropout (rng; null = none), cross-entropy on the target rows weighted by
   * `lossWeight` (1 / target tokens of the whole optimizer step), backward: adds to every
   * param's ga/gb. Returns the unweighted sum of −log p(target).
   */
  forwardBackward(batch: PackedBatch, lossWeight: number, rng: Rng | null): number {
    const c = this.config;
    const T = batch.tokens.length;
    const H = c.hiddenSize;
    const V = c.vocabSize;
    const I = c.intermediateSize;
    const dt = this.dtype;
    const { x, caches } = this.layersForward(batch, rng, true);
    const R = batch.targetRows.length;
    const { logits, xr, rstd } = this.head(x, batch.targetRows);
    const loss = crossEntropy(logits, batch.targets, R, V, lossWeight); // logits now hold dlogits
    // d(final norm output) = dlogits · lmHead; then through the final norm into the rows
    this.lmHeadT ??= transpose(alloc(dt, V * H), this.lmHead, V, H);
    const dxf = alloc(dt, R * H);
    matmul(dxf, logits, this.lmHeadT, R, V, H);
    const dxr = alloc(dt, R * H);
    rmsNormBackward(dxr, dxf, xr, this.finalNorm, rstd, R, H);
    let dx = this.zeroed("dx", T * H); // (T, H) gradient of the residual stream
    for (let r = 0; r < R; r++) {
      const o = batch.targetRows[r] * H;
      for (let j = 0; j < H; j++) dx[o + j] += dxr[r * H + j];
    }
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    for (let l = c.numLayers - 1; l >= 0; l--) {
      const L = this.layers[l];
      const C = caches[l];
      // MLP: xOut = xMid + down(silu(gate)·up), gate/up = xn2·W
      const dact = this.scratch("dact", T * I);
      this.linearBackward(dact, dx, l, 6, T, C.lin[6], true);
      const dgate = this.scratch("dgate", T * I), dup = this.scratch("dup", T * I);
      siluMulBackward(dgate, dup, dact, C.gate, C.up, C.sig, T * I);
      const dxn2 = this.scratch("dxn2", T * H);
      this.linearBackward(dxn2, dgate, l, 4, T, C.lin[4], true);
      this.linearBackward(dxn2, dup, l, 5, T, C.lin[5]);
      const dxMid = dx; // the residual passes through; the norm's gradient adds to it
      rmsNormBackward(dxMid, dxn2, C.xMid, L.postNorm, C.rstd2, T, H);
      // attention: xMid = xIn + o(attn(rope(q), rope(k), v)), q/k/v = xn1·W
      const datt = this.scratch("datt", T * qDim);
      this.linearBackward(datt, dxMid, l, 3, T, C.lin[3], true);
      const dq = this.zeroed("dq", T * qDim), dk = this.zeroed("dk", T * kvDim), dv = this.zeroed("dv", T * kvDim);
      attentionBackwardMM(dq, dk, dv, datt, C.att, C.lse, C.q, C.k, C.v, batch.seqStarts, this.attn, this.attnScratch);
      rope(dq, batch.positions, this.invFreq, T, c.numHeads, c.headDim, true);
      rope(dk, batch.positions, this.invFreq, T, c.numKvHeads, c.headDim, true);
      const dxn1 = this.scratch("dxn1", T * H);
      this.linearBackward(dxn1, dq, l, 0, T, C.lin[0], true);
      this.linearBackward(dxn1, dk, l, 1, T, C.lin[1]);
      this.linearBackward(dxn1, dv, l, 2, T, C.lin[2]);
      rmsNormBackward(dxMid, dxn1, C.xIn, L.inputNorm, C.rstd1, T, H);
      dx = dxMid;
    }
    return loss;
  }
}
