import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import path from "node:path";
import { Engine } from "../../inference/engine/engine";
import type { GenerateRequest } from "../../inference/engine/types";
import { DEMO, DEMO_ADAPTERS, collect, readJson, run } from "./engine-helpers";

// Batching invariance on the demo model: a greedy request gives the same tokens alone and in any
// batch (other adapters, other prompt lengths, joining mid-flight, chunked prefill, preemption).
const expected = readJson(path.join(DEMO, "expected.json"));
const testRows = (slug: string, n: number) =>
  fs.readFileSync(path.join(DEMO, "tasks", slug, "test.jsonl"), "utf8").trim().split("\n").slice(0, n).map((l) => JSON.parse(l));

async function makeEngine(opts: Partial<Parameters<typeof Engine.create>[0]> = {}) {
  const engine = await Engine.create({ modelDir: path.join(DEMO, "base"), backend: "native", log: null, ...opts });
  for (const a of DEMO_ADAPTERS) await engine.registerAdapter(a, path.join(DEMO, "adapters", a), "local");
  return engine;
}

describe("engine batching invariance (demo model)", () => {
  let engine: Engine;
  let requests: GenerateRequest[];
  let alone: number[][];

  beforeAll(async () => {
    engine = await makeEngine();
    // prompts of different lengths: the three expected prompts plus raw sentences, each with every adapter
    const texts = [
      ...(expected.prompts as { ids: number[] }[]).map((p) => p.ids),
      engine.encode("Hello"),
      engine.encode(Object.values(testRows("e2e", 1)[0] as Record<string, string>).join(" ")),
    ];
    requests = [];
    texts.forEach((ids, i) => {
      const adapters = [null, ...DEMO_ADAPTERS];
      requests.push({ promptIds: ids, adapterId: adapters[i % adapters.length]!, maxNewTokens: 16, ignoreEos: true });
      requests.push({ promptIds: ids, adapterId: adapters[(i + 2) % adapters.length]!, maxNewTokens: 10 + i, ignoreEos: true });
    });
    alone = [];
    for (const r of requests) alone.push((await run(engine, r)).ids);
  });
  afterAll(() => engine?.shutdown());

  it("the golden prompts alone still match the reference (sanity)", () => {
    // request 0 is golden prompt 0 on the base model (reference stops there at </s>, id 2)
    expect(alone[0]!.slice(0, 3)).toEqual(expected.runs.__base__[0].greedy);
    expect(requests.length).toBeGreaterThanOrEqual(10);
  });

  it("all at once: same tokens as alone, and steps mixed adapters", async () => {
    const stepsBefore = engine.stats().steps;
    const together = await Promise.all(requests.map((r) => run(engine, r)));
    together.forEach((t, i) => expect(t.ids, `request ${i}`).toEqual(alone[i]));
    const steps = engine.stats().steps - stepsBefore;
    const sequential = alone.reduce((s, ids) => s + ids.length, 0);
    expect(steps).toBeLessThan(sequential / 3); // they really ran in shared steps
  });

  it("requests joining mid-flight get the same tokens", async () => {
    const late: Promise<{ ids: number[] }>[] = [];
    const first = collect(engine.generate(requests[0]!), (_ev, n) => {
      if (n === 3) for (let i = 1; i < requests.length; i += 2) late.push(run(engine, requests[i]!));
    });
    const early = await Promise.all([first, ...[2, 4].map((i) => run(engine, requests[i]!))]);
    expect(early[0]!.ids).toEqual(alone[0]);
    expect(early[1]!.ids).toEqual(alone[2]);
    expect(early[2]!.ids).toEqual(alone[4]);
    const lateDone = await Promise.all(late);
    expect(lateDone.length).toBe(Math.floor(requests.length / 2));
    lateDone.forEach((t, k) => expect(t.ids).toEqual(alone[1 + 2 * k]));
  });

  it("a small token budget (chunked prefill) gives the same tokens", async () => {
    const small = await makeEngine({ maxBatchTokens: 7 });
    try {
      const together = await Promise.all(requests.map((r) => run(small, r)));
      together.forEach((t, i) => expect(t.ids, `request ${i}`).toEqual(alone[i]));
      expect(small.stats().lastBatchTokens).toBeLessThanOrEqual(7);
    } finally {
      await small.shutdown();
    }
  });

  it("a tiny KV pool forces preemption and still gives the same tokens", async () => {
    // 24 blocks of 4 tokens = 96 slots for requests of up to ~75 tokens each
    const tiny = await makeEngine({ blockSize: 4, numBlocks: 24 });
    try {
      const together = await Promise.all(requests.map((r) => run(tiny, r)));
      together.forEach((t, i) => expect(t.ids, `request ${i}`).toEqual(alone[i]));
      expect(tiny.stats().preemptions).toBeGreaterThan(0);
      expect(tiny.stats().kvBlocksUsed).toBe(0);
    } finally {
      await tiny.shutdown();
    }
  });
});
