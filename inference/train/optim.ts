/**
 * AdamW (torch.optim.AdamW semantics), global-norm gradient clipping (torch's
 * clip_grad_norm_) and the linear-warmup + cosine-to-zero schedule (transformers'
 * get_cosine_schedule_with_warmup).
 */
import type { Buf } from "./tensor";

export interface AdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: Omit<AdamWOptions, "lr" | "weightDecay"> = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

/** One parameter tensor and its gradient. */
export interface ParamRef {
  w: Buf;
  g: Buf;
}

export class AdamW {
  /** first and second moments, one pair per parameter tensor, in params order */
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  step = 0;

  constructor(readonly params: ParamRef[], readonly opts: AdamWOptions) {
    this.m = params.map((p) => new Float32Array(p.w.length));
    this.v = params.map((p) => new Float32Array(p.w.length));
  }

  /**
   * One update at learning rate lr (torch's order: decoupled decay first):
   *   w -= lr·wd·w;  m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²
   *   w -= lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + eps)
   */
  update(lr: number): void {
    this.step++;
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this.opts;
    const bc1 = 1 - Math.pow(b1, this.step);
    const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, this.step));
    const stepSize = lr / bc1;
    const decay = 1 - lr * wd;
    this.params.forEach((p, i) => {
      const m = this.m[i], v = this.v[i], w = p.w, g = p.g;
      for (let j = 0; j < w.length; j++) {
        const gj = g[j];
        if (wd !== 0) w[j] *= decay;
        const mj = b1 * m[j] + (1 - b1) * gj;
        const vj = b2 * v[j] + (1 - b2) * gj * gj;
        m[j] = mj;
        v[j] = vj;
        w[j] -= (stepSize * mj) / (Math.sqrt(vj) / bc2Sqrt + eps);
      }
    });
  }
}

/** Scales the gradients so that their global L2 norm is at most maxNorm; returns the norm before. */
export function clipGradNorm(params: ParamRef[], maxNorm: number): number {
  let ss = 0;
  for (const p of params) for (let j = 0; j < p.g.length; j++) ss += p.g[j] * p.g[j];
  const norm = Math.sqrt(ss);
  if (maxNorm > 0 && norm > maxNorm) {
    const c = maxNorm / (norm + 1e-6);
    for (const p of params) for (let j = 0; j < p.g.length; j++) p.g[j] *= c;
  }
  return norm;
}

/**
 * Learning rate of optimizer step `step` (0-based, the step about to run) of `total`:
 *   step < warmup: lr · step / warmup;  else lr · ½(1 + cos(π · (step − warmup) / (total − warmup)))
 */
export function learningRate(step: number, total: number, warmup: number, lr: number): number {
  if (step < warmup) return (lr * step) / Math.max(1, warmup);
  const progress = (step - warmup) / Math.max(1, total - warmup);
  return lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
