/**
 * Mulberry32: a small seeded generator of uint32s, the same stream for a seed everywhere. The one
 * copy behind training's Rng (LoRA init, shuffles, dropout), the eval's bootstrap resamples and
 * the benchmarks' synthetic weights; each keeps its own seeding and mapping to floats. (Sampling
 * uses xoshiro128**: inference/engine/sampler.ts's Rng.)
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
