import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Engine } from "../../inference/engine/engine";
import { DEMO, DEMO_ADAPTERS, collect, readJson, run } from "./engine-helpers";

const expected = readJson(path.join(DEMO, "expected.json"));
const prompts = (expected.prompts as { ids: number[] }[]).map((p) => p.ids);

describe("engine requests (demo model)", () => {
  let engine: Engine;
  let tmp: string;

  beforeAll(async () => {
    engine = await Engine.create({ modelDir: path.join(DEMO, "base"), backend: "native", log: null });
    for (const a of DEMO_ADAPTERS) await engine.registerAdapter(a, path.join(DEMO, "adapters", a), "local");
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "engine-req-"));
  });
  afterAll(async () => {
    await engine?.shutdown();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("cancellation frees the request's blocks within one step", async () => {
    const ctrl = new AbortController();
    let stepsAtAbort = -1;
    const r = await collect(engine.generate({ promptIds: prompts[2]!, maxNewTokens: 500, ignoreEos: true, signal: ctrl.signal }), (_ev, n) => {
      if (n === 3) {
        expect(engine.stats().kvBlocksUsed).toBeGreaterThan(0);
        stepsAtAbort = engine.stats().steps;
        ctrl.abort();
      }
    });
    expect(r.done!.finishReason).toBe("cancelled");
    expect(r.ids.length).toBeLessThanOrEqual(4);
    expect(engine.stats().kvBlocksUsed).toBe(0);
    expect(engine.stats().running).toBe(0);
    expect(engine.stats().steps - stepsAtAbort).toBeLessThanOrEqual(1);
  });

  it("leaving the event iteration early cancels the request too", async () => {
    let n = 0;
    for await (const ev of engine.generate({ promptIds: prompts[1]!, maxNewTokens: 500, ignoreEos: true })) {
      if (ev.type === "token" && ++n === 2) break;
    }
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(engine.stats().kvBlocksUsed).toBe(0);
    expect(engine.stats().running + engine.stats().waiting).toBe(0);
  });

  it("seeded sampling is reproducible, alone or in a batch, and reports the seed", async () => {
    const req = { promptIds: prompts[1]!, adapterId: "ner", maxNewTokens: 24, ignoreEos: true, sampling: { temperature: 0.9, topP: 0.95, topK: 50, seed: 1234 } };
    const a = await run(engine, req);
    const [b] = await Promise.all([run(engine, req), run(engine, { ...req, sampling: { ...req.sampling, seed: 99 } }), run(engine, { promptIds: prompts[0]!, maxNewTokens: 20 })]);
    expect(b!.ids).toEqual(a.ids);
    expect(a.done!.seed).toBe(1234);
    const c = await run(engine, { ...req, sampling: { ...req.sampling, seed: 4321 } });
    expect(c.ids).not.toEqual(a.ids);
    const unseeded = await run(engine, { ...req, sampling: { temperature: 0.9 } });
    expect(Number.isInteger(unseeded.done!.seed)).toBe(true);
    const replay = await run(engine, { ...req, sampling: { temperature: 0.9, seed: unseeded.done!.seed } });
    expect(replay.ids).toEqual(unseeded.ids);
  });

  it("stops on a stop sequence that spans token boundaries and truncates the text", async () => {
    // the base model continues prompt 1 with "ed, I was aware that the universe is a good idea ..."
    const r = await run(engine, { promptIds: prompts[1]!, maxNewTokens: 24, stop: ["universe is a"] });
    expect(expected.runs.__base__[1].greedy_text).toContain("universe is a");
    expect(r.done!.finishReason).toBe("stop_sequence");
    expect(r.text).toBe("ed, I was aware that the ");
    expect(r.done!.text).toBe(r.text);
    // ids end with the token that completed the stop sequence
    expect(r.ids).toEqual(expected.runs.__base__[1].greedy.slice(0, r.ids.length));
    expect(engine.decode(r.ids)).toContain("universe is a");
    expect(engine.decode(r.ids.slice(0, -1))).not.toContain("universe is a");
  });

  it("reports raw logprobs and top alternatives", async () => {
    const r = await run(engine, { promptIds: prompts[0]!, adapterId: "sql", maxNewTokens: 4, topAlternatives: 3 });
    for (const t of r.tokens) {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.alternatives).toHaveLength(3);
      expect(t.alternatives![0]!.id).toBe(t.id); // greedy: the best alternative is the chosen one
      expect(t.alternatives![0]!.logprob).toBeCloseTo(t.logprob, 6);
      expect(t.alternatives![1]!.logprob).toBeLessThanOrEqual(t.alternatives![0]!.logprob);
    }
  });

  it("an adapter that fails to load fails only its own requests, and says why", async () => {
    const bad = path.join(tmp, "broken");
    fs.cpSync(path.join(DEMO, "adapters", "sql"), bad, { recursive: true });
    const st = path.join(bad, "adapter_model.safetensors");
    fs.truncateSync(st, Math.floor(fs.statSync(st).size / 2));
    const info = await engine.registerAdapter("broken", bad, "local");
    expect(["disk", "failed"]).toContain(info.state);
    const [good, broken, good2] = await Promise.all([
      run(engine, { promptIds: prompts[0]!, adapterId: "sql", maxNewTokens: 24 }),
      run(engine, { promptIds: prompts[0]!, adapterId: "broken", maxNewTokens: 24 }),
      run(engine, { promptIds: prompts[2]!, maxNewTokens: 24 }),
    ]);
    expect(broken.error?.code).toBe("adapter_invalid");
    expect(broken.error?.message).toMatch(/broken/);
    expect(broken.ids).toEqual([]);
    expect(good.ids).toEqual(expected.runs.sql[0].greedy);
    expect(good2.ids).toEqual(expected.runs.__base__[2].greedy);
    const listed = engine.listAdapters().find((a) => a.id === "broken")!;
    expect(listed.state).toBe("failed");
    expect(listed.error).toBeTruthy();
    // a later request for it fails at once with the recorded reason
    const again = await run(engine, { promptIds: prompts[0]!, adapterId: "broken", maxNewTokens: 2 });
    expect(again.error?.code).toBe("adapter_invalid");
    expect(engine.stats().kvBlocksUsed).toBe(0);
  });

  it("validation problems surface as error events before any token", async () => {
    expect((await run(engine, { promptIds: prompts[0]!, adapterId: "nope", maxNewTokens: 2 })).error?.code).toBe("adapter_not_found");
    expect((await run(engine, { promptIds: [1, 999999], maxNewTokens: 2 })).error?.code).toBe("invalid_request");
    expect((await run(engine, { promptIds: prompts[0]!, maxNewTokens: 0 })).error?.message).toMatch(/max_new_tokens/);
    expect((await run(engine, { promptIds: prompts[0]!, maxNewTokens: 2, sampling: { topP: 2 } })).error?.message).toMatch(/top_p/);
    const long = Array.from({ length: 2000 }, () => 5);
    expect((await run(engine, { promptIds: long, maxNewTokens: 2 })).error?.code).toBe("prompt_too_long");
  });

  it("text prompts are tokenized with the tokenizer's special tokens", async () => {
    const r = await run(engine, { prompt: "Hello", maxNewTokens: 3, ignoreEos: true });
    expect(r.done!.promptTokens).toBe(engine.encode("Hello").length);
    expect(engine.encode("Hello")[0]).toBe(1);
    const same = await run(engine, { promptIds: engine.encode("Hello"), maxNewTokens: 3, ignoreEos: true });
    expect(r.ids).toEqual(same.ids);
  });

  it("requests for an adapter that is loading wait while others stream", async () => {
    const eng = await Engine.create({ modelDir: path.join(DEMO, "base"), backend: "native", log: null, adapterSlots: 1 });
    try {
      for (const a of DEMO_ADAPTERS) await eng.registerAdapter(a, path.join(DEMO, "adapters", a), "local");
      // one slot: sql and ner cannot be resident together; the ner request waits for the slot
      const [s, n, b] = await Promise.all([
        run(eng, { promptIds: prompts[0]!, adapterId: "sql", maxNewTokens: 24 }),
        run(eng, { promptIds: prompts[2]!, adapterId: "ner", maxNewTokens: 24 }),
        run(eng, { promptIds: prompts[1]!, maxNewTokens: 24 }),
      ]);
      expect(s.ids).toEqual(expected.runs.sql[0].greedy);
      expect(n.ids).toEqual(expected.runs.ner[2].greedy);
      expect(b.ids).toEqual(expected.runs.__base__[1].greedy);
      expect(eng.stats().residentAdapters).toBe(1);
      expect(eng.stats().adapterLoads).toBe(2);
    } finally {
      await eng.shutdown();
    }
  });

  it("preload makes an adapter resident ahead of use; unregister fails its waiting requests only", async () => {
    const eng = await Engine.create({ modelDir: path.join(DEMO, "base"), backend: "native", log: null, adapterSlots: 1 });
    try {
      await eng.registerAdapter("sql", path.join(DEMO, "adapters", "sql"), "local");
      await eng.registerAdapter("ner", path.join(DEMO, "adapters", "ner"), "local");
      expect(eng.listAdapters().map((a) => [a.id, a.state, a.rank])).toEqual([["sql", "disk", 16], ["ner", "disk", 16]]);
      await eng.preloadAdapter("sql");
      expect(eng.listAdapters().find((a) => a.id === "sql")!.state).toBe("resident");
      expect(eng.stats().residentAdapters).toBe(1);
      await expect(eng.preloadAdapter("nope")).rejects.toThrow(/not registered/);
      // sql runs a long request and pins the only slot, so the ner request waits; unregistering ner fails it
      const ctrl = new AbortController();
      const long = collect(eng.generate({ promptIds: prompts[0]!, adapterId: "sql", maxNewTokens: 400, ignoreEos: true, signal: ctrl.signal }));
      const waiting = run(eng, { promptIds: prompts[2]!, adapterId: "ner", maxNewTokens: 4 });
      await new Promise((r) => setTimeout(r, 30));
      expect(eng.stats().waiting).toBe(1);
      expect(eng.unregisterAdapter("ner")).toBe(true);
      expect(eng.unregisterAdapter("ner")).toBe(false);
      expect((await waiting).error?.code).toBe("adapter_not_found");
      ctrl.abort();
      expect((await long).done!.finishReason).toBe("cancelled");
    } finally {
      await eng.shutdown();
    }
  });

  it("shutdown ends in-flight requests as cancelled and refuses new ones", async () => {
    const eng = await Engine.create({ modelDir: path.join(DEMO, "base"), backend: "native", log: null });
    const inflight = collect(eng.generate({ promptIds: prompts[0]!, maxNewTokens: 400, ignoreEos: true }), (_ev, n) => {
      if (n === 2) void eng.shutdown();
    });
    const r = await inflight;
    expect(r.done!.finishReason).toBe("cancelled");
    expect(r.ids.length).toBe(2);
    expect((await run(eng, { promptIds: prompts[0]!, maxNewTokens: 2 })).error?.code).toBe("unavailable");
  });
});
