/**
 * Sampling on the device (shaders/sample.ts + webgpu/sampling.ts) against the CPU sampler
 * (engine/sampler.ts) on the same logits rows and seeds: the kernel's summary equals the plain
 * loops; greedy ids equal; top_k (with top_p / typical_p) and top_p draws are the same ids for the
 * same seed (the same generator stream); temperature-alone draws, made on the device with f32
 * sums, equal the CPU's but for draws within rounding of a boundary.
 */
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Engine } from "../../inference/engine/engine";
import { FIXTURES, FIXTURE_ADAPTERS, run } from "../engine/engine-helpers";
import { RequestSampler, topIds, logSumExp, type SamplerConfig } from "../../inference/engine/sampler";
import { canSampleOnDevice, sampleOnDevice, type DeviceRow } from "../../inference/webgpu/sampling";
import { rng as seeded } from "../helpers/random";
import { openTestGpu, reportMissingGpu } from "./gpu-test-backend";

const gpu = await openTestGpu();
if (!gpu.be) reportMissingGpu(gpu.reason);

const BASE: SamplerConfig = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, frequencyPenalty: 0, presencePenalty: 0 };

/** rows of logits like a model's: a few large values over a spread (scale sets how peaked) */
function logitRows(rows: number, vocab: number, seed: number, scale: number): Float32Array {
  const r = seeded(seed);
  const x = new Float32Array(rows * vocab);
  for (let i = 0; i < x.length; i++) x[i] = (r() * 2 - 1) * scale;
  for (let row = 0; row < rows; row++) for (let k = 0; k < 5; k++) x[row * vocab + Math.floor(r() * vocab)] += 3 * scale;
  return x;
}

describe.runIf(gpu.be)("sampling on WebGPU", () => {
  const be = gpu.be!;
  afterAll(() => be.close());

  it("the kernel's summary equals the plain loops (argmax, logZ, sumT, candidates with ties to the lower id)", async () => {
    for (const [rows, vocab] of [[3, 1000], [2, 32000], [1, 7]] as const) {
      const x = logitRows(rows, vocab, vocab, 4);
      x[5] = x[9] = x[vocab - 1] = 100; // ties at the top of row 0: lowest id first
      const t = be.uploadF32(x);
      const params = Array.from({ length: rows }, (_, r) => ({ invT: 1 / (0.5 + r), u: null, candidates: Math.min(64, 10 + r) }));
      const got = await be.sampleRows(t, rows, vocab, params);
      for (let r = 0; r < rows; r++) {
        const row = x.subarray(r * vocab, (r + 1) * vocab);
        const want = topIds(row, params[r]!.candidates);
        expect(Array.from(got[r]!.ids)).toEqual(want.slice(0, Math.min(params[r]!.candidates, vocab)));
        expect(Array.from(got[r]!.logits)).toEqual(want.slice(0, params[r]!.candidates).map((id) => row[id]));
        expect(got[r]!.argmax).toBe(want[0]);
        expect(got[r]!.max).toBe(row[want[0]!]);
        expect(got[r]!.logZ).toBeCloseTo(logSumExp(row), 4);
        let sumT = 0;
        for (const v of row) sumT += Math.exp((v - row[want[0]!]!) * params[r]!.invT);
        expect(Math.abs(got[r]!.sumT - sumT) / sumT).toBeLessThan(1e-5);
      }
      if (vocab === 1000) expect(Array.from(got[0]!.ids.slice(0, 3))).toEqual([5, 9, 999]);
      be.release(t);
    }
  });

  async function compare(config: Partial<SamplerConfig>, seeds: number, vocab: number, scale: number, topAlternatives = 0) {
    const rows = 8;
    let equal = 0;
    let total = 0;
    let fullReads = 0;
    for (let seed = 0; seed < seeds; seed++) {
      const x = logitRows(rows, vocab, 1000 + seed, scale);
      const t = be.uploadF32(x);
      const cfg = { ...BASE, ...config };
      // a sampler per row, two tokens each: the second draw checks the generator stayed in step
      const dev: DeviceRow[] = Array.from({ length: rows }, (_, r) => ({ sampler: new RequestSampler(cfg, seed * 31 + r, []), topAlternatives, constrained: false }));
      const cpu = Array.from({ length: rows }, (_, r) => new RequestSampler(cfg, seed * 31 + r, []));
      expect(canSampleOnDevice(dev, vocab)).toBe(true);
      for (let step = 0; step < 2; step++) {
        const got = await sampleOnDevice(be, t, vocab, dev, async () => { fullReads++; return be.readF32(t, rows * vocab); });
        got.forEach((g, r) => {
          const want = cpu[r]!.sample(x.subarray(r * vocab, (r + 1) * vocab), topAlternatives);
          total++;
          if (g.id === want.id) equal++;
          expect(Math.abs(g.logprob - want.logprob)).toBeLessThan(1e-4);
          expect(g.alternatives.map((a) => a.id)).toEqual(want.alternatives.map((a) => a.id));
        });
      }
      be.release(t);
    }
    return { equal, total, fullReads };
  }

  it("greedy: the same ids, logprobs and alternatives as the CPU", async () => {
    const r = await compare({}, 4, 32000, 5, 5);
    expect(r.equal).toBe(r.total);
    expect(r.fullReads).toBe(0);
  });

  it("top_k (alone, with top_p, with typical_p): the same ids for the same seed", async () => {
    for (const cfg of [{ temperature: 0.8, topK: 40 }, { temperature: 1.2, topK: 64, topP: 0.9 }, { temperature: 1, topK: 20, typicalP: 0.7 }, { temperature: 0.7, topK: 1 }]) {
      const r = await compare(cfg, 6, 4096, 2);
      expect(r.equal, JSON.stringify(cfg)).toBe(r.total);
    }
  });

  it("top_p alone: the same ids; a flat row (mass beyond the 64 best) goes to the CPU sampler on the full row", async () => {
    const peaked = await compare({ temperature: 0.9, topP: 0.8 }, 6, 4096, 6);
    expect(peaked.equal).toBe(peaked.total);
    expect(peaked.fullReads).toBe(0);
    const flat = await compare({ temperature: 1, topP: 0.95 }, 3, 4096, 0.01);
    expect(flat.equal).toBe(flat.total);
    expect(flat.fullReads).toBeGreaterThan(0);
  });

  it("temperature alone: drawn on the device, equal to the CPU's draws but within f32 rounding of a boundary", async () => {
    const r = await compare({ temperature: 1 }, 12, 4096, 2);
    expect(r.equal / r.total).toBeGreaterThanOrEqual(0.97);
    console.log(`temperature alone: ${r.equal}/${r.total} draws equal to the CPU's`);
  });

  it("engine: seeded requests on WebGPU give the CPU engine's ids, sampled on the device unless penalized", async () => {
    const dir = path.join(FIXTURES, "tiny-llama");
    // 3 tokens a step: 4-token prompts are chunked, so some steps sample no row at all
    const gpuEngine = await Engine.create({ modelDir: path.join(dir, "base"), backend: be, dtype: "f32", log: null, maxBatchTokens: 3 });
    const cpuEngine = await Engine.create({ modelDir: path.join(dir, "base"), backend: "reference", dtype: "f32", log: null, maxBatchTokens: 3 });
    const sampleRows = be.sampleRows.bind(be);
    let deviceSteps = 0;
    be.sampleRows = (...args) => { if (args[1] > 0) deviceSteps++; return sampleRows(...args); };
    try {
      for (const e of [gpuEngine, cpuEngine]) await e.registerAdapter(FIXTURE_ADAPTERS[0], path.join(dir, "adapters", FIXTURE_ADAPTERS[0]), "local");
      const cases = [
        {},
        { temperature: 0.8, topK: 20, seed: 7 },
        { temperature: 1, topP: 0.9, seed: 8 },
        { temperature: 1, seed: 9 },
        { temperature: 0.9, topK: 5, typicalP: 0.8, seed: 10 },
      ];
      const req = (sampling: object, i: number) => ({ promptIds: [1, 17 + i, 42, 99], adapterId: i % 2 ? FIXTURE_ADAPTERS[0] : null, maxNewTokens: 10, ignoreEos: true, sampling, topAlternatives: 2 });
      const onGpu = await Promise.all(cases.map((c, i) => run(gpuEngine, req(c, i))));
      const onCpu = await Promise.all(cases.map((c, i) => run(cpuEngine, req(c, i))));
      onGpu.forEach((g, i) => {
        expect(g.error).toBeNull();
        expect(g.ids, JSON.stringify(cases[i])).toEqual(onCpu[i]!.ids);
      });
      expect(deviceSteps).toBeGreaterThan(0);
      // a penalized request needs the full row: its steps read the logits back
      const before = deviceSteps;
      const pen = await run(gpuEngine, req({ temperature: 0.8, topK: 20, repetitionPenalty: 1.3, seed: 3 }, 0));
      expect(pen.ids).toEqual((await run(cpuEngine, req({ temperature: 0.8, topK: 20, repetitionPenalty: 1.3, seed: 3 }, 0))).ids);
      expect(deviceSteps).toBe(before);
    } finally {
      be.sampleRows = sampleRows;
      await gpuEngine.shutdown();
      await cpuEngine.shutdown();
    }
  });

  it("penalties, structured output and wide top_k keep the full row", () => {
    const row = (c: Partial<SamplerConfig>, constrained = false): DeviceRow => ({ sampler: new RequestSampler({ ...BASE, ...c }, 1, [1, 2]), topAlternatives: 0, constrained });
    expect(canSampleOnDevice([row({ repetitionPenalty: 1.1 })], 32000)).toBe(false);
    expect(canSampleOnDevice([row({ presencePenalty: 0.5 })], 32000)).toBe(false);
    expect(canSampleOnDevice([row({}, true)], 32000)).toBe(false);
    expect(canSampleOnDevice([row({ temperature: 1, topK: 65 })], 32000)).toBe(false);
    expect(canSampleOnDevice([row({ temperature: 1, typicalP: 0.5 })], 32000)).toBe(false);
    expect(canSampleOnDevice([row({ temperature: 1, topP: 0.9 })], 200)).toBe(false); // the CPU sorts such a row whole
    expect(canSampleOnDevice([row({}), row({ temperature: 1, topK: 5 })], 32000)).toBe(true);
  });
});
