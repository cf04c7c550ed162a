import { describe, expect, it } from "vitest";
import { GREEDY, RequestSampler, Rng, argmax, logSumExp, topIds, typical, type SamplerConfig } from "../../inference/engine/sampler";

const cfg = (over: Partial<SamplerConfig>): SamplerConfig => ({ ...GREEDY, ...over });

describe("sampler", () => {
  it("greedy picks the argmax, the lowest id on ties", () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    const s = new RequestSampler(GREEDY, 1, []);
    const r = s.sample(new Float32Array([0.5, 2, -1, 2]), 2);
    expect(r.id).toBe(1);
    const lz = logSumExp([0.5, 2, -1, 2]);
    expect(r.logprob).toBeCloseTo(2 - lz, 6);
    expect(r.alternatives.map((a) => a.id)).toEqual([1, 3]);
    expect(r.alternatives[1]!.logprob).toBeCloseTo(2 - lz, 6);
  });

  it("repetition penalty divides positive and multiplies negative logits of seen ids (HF)", () => {
    // id 0 seen (prompt): 2.0 / 2 = 1.0 < 1.5 -> id 1 wins
    const s = new RequestSampler(cfg({ repetitionPenalty: 2 }), 1, [0]);
    expect(s.sample(new Float32Array([2, 1.5, -3]))).toMatchObject({ id: 1 });
    // negative: id 1 seen gets -0.2 * 2 = -0.4 < -0.3
    const t = new RequestSampler(cfg({ repetitionPenalty: 2 }), 1, [1]);
    expect(t.sample(new Float32Array([-0.3, -0.2, -5])).id).toBe(0);
    // without penalty the raw argmax wins
    expect(new RequestSampler(GREEDY, 1, [1]).sample(new Float32Array([-0.3, -0.2, -5])).id).toBe(1);
  });

  it("frequency and presence penalties count generated ids only (OpenAI)", () => {
    const s = new RequestSampler(cfg({ frequencyPenalty: 0.5 }), 1, [0, 0, 0]);
    const logits = new Float32Array([1.0, 0.9, 0]);
    expect(s.sample(logits).id).toBe(0); // prompt ids are not penalised
    s.accept(0);
    expect(s.sample(logits).id).toBe(1); // 1.0 - 0.5 < 0.9
    const p = new RequestSampler(cfg({ presencePenalty: 0.05 }), 1, []);
    p.accept(0);
    p.accept(0);
    expect(p.sample(logits).id).toBe(0); // 0.95 > 0.9: presence counts once
    p.accept(0);
    const f = new RequestSampler(cfg({ frequencyPenalty: 0.05 }), 1, []);
    for (let i = 0; i < 3; i++) f.accept(0);
    expect(f.sample(logits).id).toBe(1); // 1.0 - 0.15 < 0.9
  });

  it("seeded sampling reproduces and different seeds differ", () => {
    const logits = new Float32Array(50).map((_, i) => Math.sin(i) * 2);
    const run = (seed: number) => {
      const s = new RequestSampler(cfg({ temperature: 1.2 }), seed, []);
      return Array.from({ length: 40 }, () => s.sample(logits).id);
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  it("sampling frequencies follow softmax(l / T)", () => {
    const logits = new Float32Array([0, Math.log(2), Math.log(5)]);
    const s = new RequestSampler(cfg({ temperature: 1 }), 123, []);
    const counts = [0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[s.sample(logits).id]!++;
    expect(counts[0]! / n).toBeCloseTo(1 / 8, 1);
    expect(counts[1]! / n).toBeCloseTo(2 / 8, 1);
    expect(counts[2]! / n).toBeCloseTo(5 / 8, 1);
    // temperature 0.5 squares the odds: 1:4:25
    const c = new RequestSampler(cfg({ temperature: 0.5 }), 5, []);
    let top = 0;
    for (let i = 0; i < n; i++) if (c.sample(logits).id === 2) top++;
    expect(top / n).toBeCloseTo(25 / 30, 1);
  });

  it("top_k and top_p restrict the candidates", () => {
    const logits = new Float32Array([3, 2.9, 2.8, 0, -1]);
    const k = new RequestSampler(cfg({ temperature: 5, topK: 2 }), 9, []);
    const seenK = new Set<number>();
    for (let i = 0; i < 500; i++) seenK.add(k.sample(logits).id);
    expect([...seenK].sort()).toEqual([0, 1]);
    // probs ~ [0.5, 0.3, 0.2]: top_p 0.6 keeps ids 0 and 1 (the token crossing 0.6 is kept)
    const l2 = new Float32Array([Math.log(0.5), Math.log(0.3), Math.log(0.2)]);
    const p = new RequestSampler(cfg({ temperature: 1, topP: 0.6 }), 3, []);
    const seenP = new Set<number>();
    for (let i = 0; i < 500; i++) seenP.add(p.sample(l2).id);
    expect([...seenP].sort()).toEqual([0, 1]);
    const p1 = new RequestSampler(cfg({ temperature: 1, topP: 0.4 }), 3, []);
    for (let i = 0; i < 100; i++) expect(p1.sample(l2).id).toBe(0);
  });

  it("topIds orders best first with ties to the lower id", () => {
    expect(topIds([1, 5, 5, 3, 5], 3)).toEqual([1, 2, 4]);
    expect(topIds([1, 2], 5)).toEqual([1, 0]);
  });

  it("rejects out-of-range parameters naming the field", () => {
    expect(() => new RequestSampler(cfg({ temperature: -1 }), 1, [])).toThrow(/temperature/);
    expect(() => new RequestSampler(cfg({ topP: 0 }), 1, [])).toThrow(/top_p/);
    expect(() => new RequestSampler(cfg({ topK: 1.5 }), 1, [])).toThrow(/top_k/);
    expect(() => new RequestSampler(cfg({ repetitionPenalty: 0 }), 1, [])).toThrow(/repetition_penalty/);
  });

  it("the PRNG gives uniform floats in [0, 1)", () => {
    const r = new Rng(42);
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const v = r.next();
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
      sum += v;
    }
    expect(sum / 10000).toBeCloseTo(0.5, 1);
    expect(new Rng(1).nextU32()).not.toBe(new Rng(2).nextU32());
  });
});

describe("typical_p", () => {
  it("keeps the candidates whose surprisal is closest to the entropy until their mass reaches p (HF TypicalLogitsWarper)", () => {
    // p = [0.5, 0.25, 0.125, 0.125]: H = 1.75 bits = 1.213 nats; |−ln p − H| = [0.52, 0.17, 0.87, 0.87]
    const probs = Float64Array.from([4, 2, 1, 1]);
    expect(typical(probs, 4, 8, 0.2)).toEqual([1]); // the most typical first, alone when its mass reaches p
    expect(typical(probs, 4, 8, 0.5)).toEqual([1, 0]);
    expect(typical(probs, 4, 8, 0.8)).toEqual([1, 0, 2]);
    expect(typical(probs, 4, 8, 1)).toEqual([1, 0, 2, 3]);
  });

  it("with a tiny mass every seed draws the same (most typical) token", () => {
    const logits = Float32Array.from([3, 1, 2.5, 0, -1, 2]);
    const cfg: SamplerConfig = { ...GREEDY, temperature: 1, typicalP: 0.001 };
    const picks = [1, 2, 3, 4, 5].map((seed) => new RequestSampler(cfg, seed, []).sample(logits).id);
    expect(new Set(picks).size).toBe(1);
    expect(() => new RequestSampler({ ...cfg, typicalP: 0 }, 1, [])).toThrow(/typical_p/);
  });
});
