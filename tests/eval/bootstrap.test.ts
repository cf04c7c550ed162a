/** The bootstrap intervals shown beside every eval score (server/eval/bootstrap.ts). */
import { describe, expect, it } from "vitest";
import { bootstrapMean, pairedBootstrap, seededRandom } from "../../server/eval/bootstrap";

/** 0/1 scores with `right` ones out of n, spread evenly (no randomness in the data itself). */
const scores = (n: number, right: number) => Array.from({ length: n }, (_, i) => (Math.floor(((i + 1) * right) / n) > Math.floor((i * right) / n) ? 1 : 0));

describe("bootstrap intervals", () => {
  it("is deterministic for a seed, and another seed moves the bounds a little", () => {
    const s = scores(200, 140);
    const a = bootstrapMean(s, { seed: 42 })!;
    expect(bootstrapMean(s, { seed: 42 })).toEqual(a);
    const b = bootstrapMean(s, { seed: 43 })!;
    expect([b.low, b.high]).not.toEqual([a.low, a.high]);
    expect(Math.abs(b.low - a.low)).toBeLessThan(0.02);
    expect(a).toMatchObject({ mean: 0.7, level: 0.95, n: 200, resamples: 1000 });
  });

  it("covers the point estimate, inside [0, 1], near the normal approximation's width", () => {
    for (const [n, right] of [[20, 13], [100, 50], [500, 430], [1000, 999]] as const) {
      const ci = bootstrapMean(scores(n, right), { seed: n })!;
      const p = right / n;
      expect(ci.mean).toBeCloseTo(p, 12);
      expect(ci.low).toBeLessThanOrEqual(p);
      expect(ci.high).toBeGreaterThanOrEqual(p);
      expect(ci.low).toBeGreaterThanOrEqual(0);
      expect(ci.high).toBeLessThanOrEqual(1);
      // 95% normal interval half-width 1.96·sqrt(p(1-p)/n); the percentile bootstrap is within 25% of it
      const half = 1.96 * Math.sqrt((p * (1 - p)) / n);
      expect((ci.high - ci.low) / 2).toBeGreaterThan(half * 0.75);
      expect((ci.high - ci.low) / 2).toBeLessThan(half * 1.25);
    }
  });

  it("narrows as n grows (same accuracy)", () => {
    const widths = [25, 100, 400, 1600].map((n) => {
      const ci = bootstrapMean(scores(n, (n * 3) / 5), { seed: 7 })!;
      return ci.high - ci.low;
    });
    for (let i = 1; i < widths.length; i++) expect(widths[i]!).toBeLessThan(widths[i - 1]! * 0.7);
  });

  it("all-equal scores give a zero-width interval; no scores give none", () => {
    expect(bootstrapMean([1, 1, 1, 1])).toMatchObject({ mean: 1, low: 1, high: 1 });
    expect(bootstrapMean([])).toBeNull();
  });

  it("a paired difference keeps each example's pair: identical runs differ by exactly 0", () => {
    const a = scores(300, 200);
    expect(pairedBootstrap(a, a)).toMatchObject({ mean: 0, low: 0, high: 0 });
    // b fixes 30 wrong answers of a: +0.1, and the interval excludes 0
    let fixed = 0;
    const b = a.map((x) => (x === 0 && fixed < 30 ? (fixed++, 1) : x));
    const d = pairedBootstrap(b, a, { seed: 1 })!;
    expect(d.mean).toBeCloseTo(0.1, 12);
    expect(d.low).toBeGreaterThan(0);
    expect(d.high).toBeGreaterThanOrEqual(0.1);
  });

  it("refuses bad options and unpaired lengths with a clear error", () => {
    expect(() => bootstrapMean([1], { resamples: 1 })).toThrow(/resamples must be an integer of at least 2/);
    expect(() => bootstrapMean([1], { level: 1 })).toThrow(/level must be between 0 and 1/);
    expect(() => pairedBootstrap([1, 0], [1])).toThrow(/same length \(2 vs 1\)/);
  });

  it("the generator is uniform enough: mean ~0.5 over 100k draws", () => {
    const r = seededRandom(123);
    let s = 0;
    for (let i = 0; i < 100_000; i++) s += r();
    expect(s / 100_000).toBeCloseTo(0.5, 2);
  });
});
