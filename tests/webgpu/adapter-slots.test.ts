/**
 * Adapter slots in GPU memory: an adapter's A/B go up when it becomes resident and are freed when
 * it is evicted or unregistered, so loading and unloading adapters over and over leaves the
 * backend's live buffers and bytes where they started (they used to stay until the process ended).
 */
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Engine } from "../../inference/engine/engine";
import { loadModel } from "../../inference/model/load";
import { readModelConfig } from "../../inference/model/config";
import { loadPeftAdapter } from "../../inference/adapters/peft";
import type { ForwardBatch } from "../../inference/model/batch";
import { KvCache } from "../../inference/model/kv-cache";
import { FIXTURES, FIXTURE_ADAPTERS, run } from "../engine/engine-helpers";
import { openTestGpu, reportMissingGpu } from "./gpu-test-backend";

const gpu = await openTestGpu();
if (!gpu.be) reportMissingGpu(gpu.reason);
const DIR = path.join(FIXTURES, "tiny-llama");

describe.runIf(gpu.be)("adapter slots on WebGPU", () => {
  const be = gpu.be!;
  afterAll(() => be.close());

  /** settled figures: frees wait for a submit */
  const memory = () => { be.flush(); return be.memory(); };

  it("Model.uploadAdapter / releaseAdapter: repeated load and unload returns to the baseline", async () => {
    const model = await loadModel(path.join(DIR, "base"), { backend: be, weights: { dtype: "f32" } });
    const c = model.config;
    const kv = new KvCache(c, 8, 16, (n) => be.allocF32(n));
    const adapters = await Promise.all(FIXTURE_ADAPTERS.map((a) => loadPeftAdapter(path.join(DIR, "adapters", a), a, c)));
    // one token per adapter (and one base), each its own sequence of length 1
    const S = adapters.length + 1;
    const batch: ForwardBatch = {
      tokens: Int32Array.from({ length: S }, (_, i) => 1 + i),
      positions: new Int32Array(S),
      seqIndex: Int32Array.from({ length: S }, (_, i) => i),
      slots: Int32Array.from({ length: S }, (_, i) => i * 16),
      blockTables: Int32Array.from({ length: S }, (_, i) => i),
      maxBlocksPerSeq: 1,
      segStarts: Int32Array.from({ length: S + 1 }, (_, i) => i),
      adapters: [null, ...adapters],
      logitRows: Int32Array.from({ length: S }, (_, i) => i),
    };
    const first = await model.forwardAsync(batch, kv); // scratch (incl. the LoRA one) at capacity
    for (const a of adapters) model.releaseAdapter(a);
    const base = memory();
    expect(model.uploadedAdapters).toBe(0);

    for (let round = 0; round < 4; round++) {
      for (const a of adapters) model.uploadAdapter(a);
      expect(model.uploadedAdapters).toBe(adapters.length);
      expect(memory().arenaUsedBytes).toBeGreaterThan(base.arenaUsedBytes);
      const again = await model.forwardAsync(batch, kv);
      expect(Array.from(again)).toEqual(Array.from(first)); // re-uploaded tensors are the same adapters
      for (const a of adapters) model.releaseAdapter(a);
      expect(memory()).toEqual(base);
    }
  });

  it("engine: adapters evicted from one slot and unregistered leave no device memory behind", async () => {
    const engineConfig = await readModelConfig(path.join(DIR, "base"));
    const engine = await Engine.create({ modelDir: path.join(DIR, "base"), backend: be, dtype: "f32", log: null, adapterSlots: 1, hostCacheBytes: 0 });
    try {
      const req = (adapterId: string | null) => ({ promptIds: [1, 5, 9], adapterId, maxNewTokens: 2, ignoreEos: true });
      // warm: the first adapter request sizes the scratch it needs
      await engine.registerAdapter(FIXTURE_ADAPTERS[0], path.join(DIR, "adapters", FIXTURE_ADAPTERS[0]), "local");
      expect((await run(engine, req(FIXTURE_ADAPTERS[0]))).error).toBeNull();
      engine.unregisterAdapter(FIXTURE_ADAPTERS[0]);
      expect((await run(engine, req(null))).error).toBeNull();
      const base = memory();
      // the most one resident adapter may hold: its A/B, each rounded to the arena's alignment
      const weights = await Promise.all(FIXTURE_ADAPTERS.map((a) => loadPeftAdapter(path.join(DIR, "adapters", a), a, engineConfig)));
      const aligned = (floats: number) => Math.ceil((floats * 4) / 256) * 256;
      const oneAdapter = Math.max(...weights.map((w) => w.layers.flatMap((l) => Object.values(l)).reduce((s, p) => s + aligned(p.a.length) + aligned(p.b.length), 0)));

      for (let round = 0; round < 3; round++) {
        for (const a of FIXTURE_ADAPTERS) await engine.registerAdapter(a, path.join(DIR, "adapters", a), "local");
        // one slot: each adapter evicts the previous one; its device copy goes with it
        for (const a of FIXTURE_ADAPTERS) {
          const r = await run(engine, req(a));
          expect(r.error).toBeNull();
          const used = memory().arenaUsedBytes - base.arenaUsedBytes;
          expect(used).toBeGreaterThan(0);
          expect(used, `after ${a}`).toBeLessThanOrEqual(oneAdapter);
        }
        for (const a of FIXTURE_ADAPTERS) engine.unregisterAdapter(a);
        expect(memory()).toEqual(base);
      }
    } finally {
      await engine.shutdown();
    }
  });
});
