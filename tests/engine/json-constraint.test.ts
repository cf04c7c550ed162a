/**
 * Structured output (`response_format: json_object`): the JSON automaton accepts exactly the
 * prefixes of one JSON object, and the engine, masking with it, keeps the NER adapter's greedy
 * answer (already JSON) token for token and keeps the base model (which writes no JSON) inside
 * JSON at every step.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../inference/engine/engine";
import { isCompleteJsonObject, JsonConstraint, step } from "../../inference/engine/json-constraint";
import { DEMO, collect, readJson } from "./engine-helpers";

/** every prefix of `text` is accepted (the automaton never rejects a valid document midway) */
function acceptsPrefixes(text: string): boolean {
  // run char by char through the same public pieces the constraint uses
  let s: Parameters<typeof step>[0] | null = { mode: "start", stack: "", key: false, n: 0, num: "", lit: "", ws: 0, emptyArr: false };
  for (const c of text) {
    if (!s) return false;
    s = c > "\u007f" ? (s.mode === "str" ? s : null) : step(s, c);
  }
  return s !== null;
}

describe("JSON automaton", () => {
  it("accepts JSON objects, and every prefix of them", () => {
    for (const doc of ['{}', '{"a": 1}', '{"a": [1, -2.5e+3, 0.0, true, false, null, "x\\n\\u00e9"], "b": {"c": []}}', '{"person": ["Anna Reed"], "organization": []}', '{"é": "ü"}']) {
      expect(isCompleteJsonObject(doc), doc).toBe(true);
      expect(JSON.parse(doc)).toBeTypeOf("object");
      for (let i = 0; i < doc.length; i++) expect(acceptsPrefixes(doc.slice(0, i)), doc.slice(0, i)).toBe(true);
    }
  });

  it("rejects what JSON.parse rejects, and non-objects", () => {
    for (const bad of ['[1]', '"x"', '{a: 1}', '{"a" 1}', '{"a": 01}', '{"a": 1,}', '{"a": [1,]}', '{"a": tru}', '{"a": "\x01"}', '{"a": 1}}', '{"a": 1} x', '{"a": .5}', '{"a": "\\x"}']) {
      expect(isCompleteJsonObject(bad), bad).toBe(false);
    }
  });

  it("caps whitespace between tokens, so a model cannot stall in it", () => {
    expect(acceptsPrefixes("{  ")).toBe(true);
    expect(acceptsPrefixes("{   ")).toBe(false);
    expect(acceptsPrefixes('{"a   b": 1}')).toBe(true); // inside strings anything goes
  });

  it("masks: only '{' (and whitespace) first; only EOS once closed", () => {
    const texts = ["{", "}", " ", '"a"', ":", "1", "x", null];
    const c = new JsonConstraint({ texts, eosIds: new Set([7]) });
    expect([...c.mask()]).toEqual([1, 0, 1, 0, 0, 0, 0, 0]);
    for (const id of [0, 3, 4, 5, 1]) c.accept(id);
    expect(c.done).toBe(true);
    expect([...c.mask()]).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
  });
});

describe("engine with response_format json_object (demo model)", () => {
  let engine: Engine;
  const expected = readJson(path.join(DEMO, "expected.json"));
  const ner = expected.prompts.findIndex((p: { task: string }) => p.task === "ner");

  beforeAll(async () => {
    engine = await Engine.create({ modelDir: path.join(DEMO, "base"), backend: "native", log: null });
    await engine.registerAdapter("ner", path.join(DEMO, "adapters", "ner"), "local");
  });
  afterAll(async () => {
    await engine?.shutdown();
  });

  it("the NER adapter's greedy JSON is unchanged token for token and parses", async () => {
    const r = await collect(engine.generate({ promptIds: expected.prompts[ner].ids, adapterId: "ner", maxNewTokens: 64, responseFormat: "json_object" }));
    expect(r.ids).toEqual(expected.runs.ner[ner].greedy);
    expect(r.done!.finishReason).toBe("eos_token");
    expect(JSON.parse(r.done!.text)).toEqual(JSON.parse(expected.runs.ner[ner].greedy_text));
  });

  it("the base model (no JSON of its own) stays inside JSON at every step, and what it closes parses", async () => {
    for (const p of expected.prompts) {
      const r = await collect(engine.generate({ promptIds: p.ids, maxNewTokens: 48, responseFormat: "json_object" }));
      expect(acceptsPrefixes(r.done!.text.trimStart()), r.done!.text).toBe(true);
      if (r.done!.finishReason === "eos_token") expect(JSON.parse(r.done!.text)).toBeTypeOf("object");
      // and sampling too
      const s = await collect(engine.generate({ promptIds: p.ids, maxNewTokens: 48, responseFormat: "json_object", sampling: { temperature: 1, seed: 5 } }));
      expect(acceptsPrefixes(s.done!.text.trimStart()), s.done!.text).toBe(true);
      if (s.done!.finishReason === "eos_token") expect(JSON.parse(s.done!.text)).toBeTypeOf("object");
    }
  });
});
