/**
 * The whole engine (scheduler, continuous batching, paged KV on the device, SGMV over mixed
 * adapters, sampler, cancellation) on the WebGPU backend: greedy goldens of transformers + PEFT,
 * with every request of a model submitted at once so steps mix adapters and prompts.
 */
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Engine } from "../../inference/engine/engine";
import { collect, DEMO, DEMO_ADAPTERS, FIXTURES, FIXTURE_ADAPTERS, readJson, run } from "../engine/engine-helpers";
import { openTestGpu, reportMissingGpu } from "./gpu-test-backend";

const gpu = await openTestGpu();
if (!gpu.be) reportMissingGpu(gpu.reason);

describe.runIf(gpu.be)("engine on WebGPU", () => {
  const be = gpu.be!;
  const engines: Engine[] = [];
  afterAll(async () => {
    for (const e of engines) await e.shutdown();
    be.close();
  });

  async function engineFor(dir: string, adapters: readonly string[]): Promise<Engine> {
    const engine = await Engine.create({ modelDir: path.join(dir, "base"), backend: be, dtype: "f32", log: null });
    engines.push(engine);
    for (const a of adapters) await engine.registerAdapter(a, path.join(dir, "adapters", a), "local");
    return engine;
  }

  it("tiny-llama: 12 greedy ids per prompt and adapter, all requests in flight together", async () => {
    const dir = path.join(FIXTURES, "tiny-llama");
    const expected = readJson(path.join(dir, "expected.json"));
    const engine = await engineFor(dir, FIXTURE_ADAPTERS);
    const jobs: Promise<void>[] = [];
    for (const adapter of ["__base__", ...FIXTURE_ADAPTERS]) {
      for (const [i, p] of (expected.prompts as { ids: number[] }[]).entries()) {
        jobs.push(run(engine, { promptIds: p.ids, adapterId: adapter === "__base__" ? null : adapter, maxNewTokens: 12, ignoreEos: true }).then((r) => {
          expect(r.error).toBeNull();
          expect(r.ids, `${adapter} prompt ${i}`).toEqual(expected.runs[adapter][i].greedy);
        }));
      }
    }
    await Promise.all(jobs);
  });

  it("demo model: greedy goldens of base and task adapters (stopping at </s>), mixed in flight", async () => {
    const expected = readJson(path.join(DEMO, "expected.json"));
    const engine = await engineFor(DEMO, DEMO_ADAPTERS);
    const jobs: Promise<void>[] = [];
    for (const adapter of ["__base__", ...DEMO_ADAPTERS]) {
      for (const [i, p] of (expected.prompts as { ids: number[] }[]).entries()) {
        jobs.push(run(engine, { promptIds: p.ids, adapterId: adapter === "__base__" ? null : adapter, maxNewTokens: 24 }).then((r) => {
          expect(r.error).toBeNull();
          expect(r.ids, `${adapter} prompt ${i}`).toEqual(expected.runs[adapter][i].greedy);
        }));
      }
    }
    await Promise.all(jobs);

    // cancellation mid-flight frees the request's blocks
    const ctrl = new AbortController();
    const r = await collect(engine.generate({ promptIds: expected.prompts[0].ids, maxNewTokens: 500, ignoreEos: true, signal: ctrl.signal }), (_ev, n) => {
      if (n === 3) ctrl.abort();
    });
    expect(r.done!.finishReason).toBe("cancelled");
    expect(r.ids.length).toBeLessThanOrEqual(4);
    expect(engine.stats().kvBlocksUsed).toBe(0);
  });
});
