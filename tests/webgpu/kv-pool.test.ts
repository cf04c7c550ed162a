/**
 * The KV block pool on a WebGPU device: sized from the adapter's buffer limits, the device's
 * memory and `--gpu-memory-fraction` (GPU_MEMORY_FRACTION), less what the device already holds;
 * the plan names the bound that decided it.
 */
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadModel } from "../../inference/model/load";
import { KvCache } from "../../inference/model/kv-cache";
import { WebGpuBackend } from "../../inference/webgpu/backend";
import { parseGpuMemoryFraction, planKvPool } from "../../inference/webgpu/memory";
import { gpuMemoryFractionFromEnv } from "../../inference/webgpu/select";
import { Engine } from "../../inference/engine/engine";
import { FIXTURES, run } from "../engine/engine-helpers";
import { openTestGpu, reportMissingGpu } from "./gpu-test-backend";

const MiB = 2 ** 20;
const lavapipeLimits = { maxBufferSize: 2 ** 32 - 1, maxStorageBufferBindingSize: 128 * MiB };

describe("planKvPool", () => {
  const base = {
    wantedBlocks: 1000, bytesPerBlock: 4 * MiB, bufferBytesPerBlock: 64 * 1024,
    limits: { maxBufferSize: 2 ** 34, maxStorageBufferBindingSize: 2 ** 32 - 4 },
    memory: { totalBytes: 80 * 2 ** 30, source: "nvidia-smi" }, fraction: 0.9, inUseBytes: 14 * 2 ** 30, capBytes: null,
  };

  it("takes the fewest blocks of every bound and names it", () => {
    // 0.9 * 80 GiB - 14 GiB = 58 GiB = 14848 blocks; wanted 1000 decides
    expect(planKvPool(base)).toMatchObject({ numBlocks: 1000, bytes: 4000 * MiB });
    expect(planKvPool(base).reason).toMatch(/bound by maxRunning full contexts/);

    const mem = planKvPool({ ...base, wantedBlocks: 100000 });
    expect(mem.numBlocks).toBe(Math.floor((0.9 * 80 * 2 ** 30 - 14 * 2 ** 30) / (4 * MiB)));
    expect(mem.reason).toMatch(/bound by 0\.9 x 81920 MiB device memory \(nvidia-smi\) less 14336 MiB in use/);

    const half = planKvPool({ ...base, wantedBlocks: 100000, fraction: 0.5 });
    expect(half.numBlocks).toBe(Math.floor((0.5 * 80 * 2 ** 30 - 14 * 2 ** 30) / (4 * MiB)));

    // one layer's pool is one buffer: 128 MiB / 64 KiB = 2048 blocks
    const buf = planKvPool({ ...base, wantedBlocks: 100000, limits: lavapipeLimits });
    expect(buf.numBlocks).toBe(2048);
    expect(buf.reason).toMatch(/one layer's pool per buffer/);

    const cap = planKvPool({ ...base, wantedBlocks: 100000, capBytes: 1024 * MiB });
    expect(cap.numBlocks).toBe(256);
    expect(cap.reason).toMatch(/KV byte cap 1024 MiB/);
  });

  it("without a memory figure only the limits and the cap bound it, and it says so", () => {
    const p = planKvPool({ ...base, wantedBlocks: 5000, limits: lavapipeLimits, memory: { totalBytes: null, source: "not reported by this platform" } });
    expect(p.numBlocks).toBe(2048);
    expect(p.reason).toMatch(/device memory not reported by this platform$/);
  });

  it("never plans fewer than one block (the engine reports what does not fit)", () => {
    expect(planKvPool({ ...base, wantedBlocks: 100000, inUseBytes: 79 * 2 ** 30 }).numBlocks).toBe(1);
  });

  it("--gpu-memory-fraction / GPU_MEMORY_FRACTION: (0, 1], default 0.9, bad values name the option", () => {
    expect(parseGpuMemoryFraction(undefined)).toBe(0.9);
    expect(parseGpuMemoryFraction("0.5")).toBe(0.5);
    expect(parseGpuMemoryFraction("1")).toBe(1);
    for (const bad of ["0", "-0.1", "1.5", "abc", "NaN"]) {
      expect(() => parseGpuMemoryFraction(bad)).toThrow(/gpu-memory-fraction must be a number in \(0, 1\]/);
    }
    const old = process.env.GPU_MEMORY_FRACTION;
    try {
      process.env.GPU_MEMORY_FRACTION = "0.25";
      expect(gpuMemoryFractionFromEnv()).toBe(0.25);
      process.env.GPU_MEMORY_FRACTION = "2";
      expect(() => gpuMemoryFractionFromEnv()).toThrow(/^GPU_MEMORY_FRACTION must be/);
    } finally {
      if (old === undefined) delete process.env.GPU_MEMORY_FRACTION;
      else process.env.GPU_MEMORY_FRACTION = old;
    }
  });
});

const gpu = await openTestGpu();
if (!gpu.be) reportMissingGpu(gpu.reason);

describe.runIf(gpu.be)("KV pool on lavapipe", () => {
  const be = gpu.be!;
  afterAll(() => be.close());

  it("software adapter: host memory; the plan uses the device's real limits and what the weights hold", async () => {
    expect(be.deviceMemory.source).toBe("host memory (software adapter)");
    expect(be.memoryFraction).toBe(0.9);
    // a backend on the same device told it has 64 MiB, at fraction 0.5, holding the model
    const small = new WebGpuBackend(be.ctx, { memoryFraction: 0.5, deviceMemory: { totalBytes: 1024 * MiB, source: "test" } });
    const dir = path.join(FIXTURES, "tiny-llama", "base");
    const model = await loadModel(dir, { backend: small, weights: { dtype: "f32" } });
    const c = model.config;
    const held = small.bytesInUse; // weights, arenas, the params ring
    expect(held).toBeGreaterThan(2 * MiB);
    const bytesPerBlock = KvCache.bytesPerBlock(c, 16);
    const plan = small.planKvPool({ wantedBlocks: 10 ** 6, bytesPerBlock, bufferBytesPerBlock: KvCache.bufferBytesPerBlock(c, 16), capBytes: null });
    expect(plan.numBlocks).toBe(Math.floor((512 * MiB - held) / bytesPerBlock));
    expect(plan.reason).toMatch(/bound by 0\.5 x 1024 MiB device memory \(test\) less [\d.]+ MiB in use/);
    const lower = new WebGpuBackend(be.ctx, { memoryFraction: 0.25, deviceMemory: { totalBytes: 1024 * MiB, source: "test" } });
    expect(lower.planKvPool({ wantedBlocks: 10 ** 6, bytesPerBlock, bufferBytesPerBlock: KvCache.bufferBytesPerBlock(c, 16), capBytes: null }).numBlocks)
      .toBe(Math.floor((256 * MiB - lower.bytesInUse) / bytesPerBlock));

    // the engine takes the plan (and logs it) when no numBlocks is given
    const logs: string[] = [];
    const tight = new WebGpuBackend(be.ctx, { memoryFraction: 0.5, deviceMemory: { totalBytes: 100 * MiB, source: "test" } });
    const engine = await Engine.create({ modelDir: dir, backend: tight, dtype: "f32", log: (l) => logs.push(l), maxRunning: 10 ** 4 });
    try {
      const inUse = logs.find((l) => l.startsWith("KV pool"))!;
      expect(inUse).toMatch(/^KV pool \d+ blocks \([\d.]+ MiB\), bound by 0\.5 x 100 MiB device memory \(test\) less [\d.]+ MiB in use$/);
      expect(engine.limits.numBlocks).toBe(Number(/^KV pool (\d+)/.exec(inUse)![1]));
      // the pool it allocated fits in half of the 100 MiB next to what was held
      expect(tight.bytesInUse).toBeLessThanOrEqual(50 * MiB);
      expect(tight.bytesInUse + bytesPerBlock).toBeGreaterThan(50 * MiB);
      expect((await run(engine, { promptIds: [1, 2, 3], maxNewTokens: 2, ignoreEos: true })).error).toBeNull();
    } finally {
      await engine.shutdown();
    }

    // the same at fraction 0.9 of the host's memory: the buffer limit (128 MiB on lavapipe) decides
    const big = be.planKvPool({ wantedBlocks: 10 ** 9, bytesPerBlock, bufferBytesPerBlock: KvCache.bufferBytesPerBlock(c, 16), capBytes: null });
    const perBuffer = Math.min(be.ctx.limits.maxBufferSize, be.ctx.limits.maxStorageBufferBindingSize);
    expect(big.numBlocks).toBe(Math.floor(perBuffer / KvCache.bufferBytesPerBlock(c, 16)));
    // and a pool of that many blocks can be allocated per layer (one buffer each)
    const one = be.allocF32(big.numBlocks * KvCache.bufferBytesPerBlock(c, 16) / 4);
    be.release(one);
    be.flush();
  });
});
