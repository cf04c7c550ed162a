/**
 * Confidence intervals of a mean score by the percentile bootstrap: resample the per-example
 * scores with replacement B times (default 1000), take each resample's mean, and report the
 * 2.5th and 97.5th percentiles of those means (95%). Seeded, so the same scores always give the
 * same interval (a page reload does not move it). `pairedBootstrap` resamples examples (both
 * runs' scores of one example together) for the difference of two runs on the same rows.
 */
import { mulberry32 } from "../../inference/mulberry32";

export interface Interval {
  /** the mean of the scores (the point estimate) */
  mean: number;
  low: number;
  high: number;
  /** confidence level, e.g. 0.95 */
  level: number;
  /** scores resampled */
  n: number;
  resamples: number;
}

export interface BootstrapOptions {
  resamples?: number;
  level?: number;
  seed?: number;
}

/** Uniform [0, 1) numbers from mulberry32 (the same sequence for a seed, everywhere). */
export function seededRandom(seed: number): () => number {
  const u32 = mulberry32(seed);
  return () => u32() / 4294967296;
}

/** Linear-interpolated quantile of sorted values (R's type 7). */
function quantile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

function check(opts: BootstrapOptions): { resamples: number; level: number; seed: number } {
  const resamples = opts.resamples ?? 1000;
  const level = opts.level ?? 0.95;
  if (!Number.isInteger(resamples) || resamples < 2) throw new RangeError(`resamples must be an integer of at least 2, got ${resamples}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`level must be between 0 and 1, got ${level}`);
  return { resamples, level, seed: opts.seed ?? 1 };
}

/**
 * Percentile bootstrap interval of the mean of `values` (each example's score); null when there
 * are none. The resampled means are `means[b] = mean(values[idx_b])`, idx_b drawn uniformly.
 */
export function bootstrapMean(values: ArrayLike<number>, opts: BootstrapOptions = {}): Interval | null {
  return pairedBootstrap(values, null, opts);
}

/**
 * The interval of mean(a) - mean(b) over the same examples (b null: of mean(a)), resampling
 * examples so each keeps its pair. `a` and `b` must have the same length.
 */
export function pairedBootstrap(a: ArrayLike<number>, b: ArrayLike<number> | null, opts: BootstrapOptions = {}): Interval | null {
  const { resamples, level, seed } = check(opts);
  const n = a.length;
  if (b && b.length !== n) throw new RangeError(`paired scores must have the same length (${n} vs ${b.length})`);
  if (n === 0) return null;
  // d[i]: the score (or the paired difference) of example i
  const d = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    d[i] = a[i]! - (b ? b[i]! : 0);
    sum += d[i]!;
  }
  const rand = seededRandom(seed);
  const means = new Float64Array(resamples); // (resamples,)
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[Math.floor(rand() * n)]!;
    means[r] = s / n;
  }
  means.sort();
  const tail = (1 - level) / 2;
  return { mean: sum / n, low: quantile(means, tail), high: quantile(means, 1 - tail), level, n, resamples };
}
