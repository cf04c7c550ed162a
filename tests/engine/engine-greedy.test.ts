import { afterAll, beforeAll, describe, expect, it } from "vitest";
import path from "node:path";
import { Engine } from "../../inference/engine/engine";
import { DEMO, DEMO_ADAPTERS, FIXTURES, FIXTURE_ADAPTERS, FIXTURE_NAMES, readJson, run } from "./engine-helpers";

// Golden greedy continuations through the whole engine (scheduler, paged KV, sampler,
// detokenizer) on the native backend, one request at a time, against transformers + PEFT.
describe.each(FIXTURE_NAMES)("engine greedy golden: %s", (name) => {
  const dir = path.join(FIXTURES, name);
  const expected = readJson(path.join(dir, "expected.json"));
  let engine: Engine;

  beforeAll(async () => {
    engine = await Engine.create({ modelDir: path.join(dir, "base"), backend: "native", log: null });
    for (const a of FIXTURE_ADAPTERS) await engine.registerAdapter(a, path.join(dir, "adapters", a), "local");
  });
  afterAll(() => engine?.shutdown());

  for (const adapter of ["__base__", ...FIXTURE_ADAPTERS]) {
    it(`${adapter}: 12 greedy ids per prompt (ignore_eos)`, async () => {
      for (const [i, p] of (expected.prompts as { ids: number[] }[]).entries()) {
        const r = await run(engine, { promptIds: p.ids, adapterId: adapter === "__base__" ? null : adapter, maxNewTokens: 12, ignoreEos: true });
        expect(r.error).toBeNull();
        expect(r.ids, `prompt ${i}`).toEqual(expected.runs[adapter][i].greedy);
        expect(r.done!.finishReason).toBe("length");
        expect(r.done!.ids).toEqual(r.ids);
        expect(r.done!.text).toBe(r.text);
        // the streamed text is the full decode's continuation of the prompt
        const full = engine.decode([...p.ids, ...r.ids]);
        expect(full.slice(engine.decode(p.ids).length)).toBe(r.text);
      }
    });
  }
});

describe("engine greedy golden: demo (loraland-mini)", () => {
  const expected = readJson(path.join(DEMO, "expected.json"));
  let engine: Engine;

  beforeAll(async () => {
    engine = await Engine.create({ modelDir: path.join(DEMO, "base"), backend: "native", log: null });
    for (const a of DEMO_ADAPTERS) await engine.registerAdapter(a, path.join(DEMO, "adapters", a), "local");
  });
  afterAll(() => engine?.shutdown());

  for (const adapter of ["__base__", ...DEMO_ADAPTERS]) {
    it(`${adapter}: 24 greedy tokens stopping at </s>, and greedy_text`, async () => {
      for (const [i, p] of (expected.prompts as { ids: number[] }[]).entries()) {
        const want = expected.runs[adapter][i];
        const r = await run(engine, { promptIds: p.ids, adapterId: adapter === "__base__" ? null : adapter, maxNewTokens: 24 });
        expect(r.error).toBeNull();
        expect(r.ids, `prompt ${i}`).toEqual(want.greedy);
        const stoppedOnEos = want.greedy.at(-1) === 2;
        expect(r.done!.finishReason).toBe(stoppedOnEos ? "eos_token" : "length");
        if (stoppedOnEos) expect(r.tokens.at(-1)!.special).toBe(true);
        // greedy_text is decode(greedy ids); the stream keeps the first token's leading space
        const leadingSpace = engine.decode([...p.ids, want.greedy[0]]).length - engine.decode(p.ids).length > engine.decode([want.greedy[0]]).length;
        expect(r.text).toBe((leadingSpace ? " " : "") + want.greedy_text);
      }
    });
  }
});
