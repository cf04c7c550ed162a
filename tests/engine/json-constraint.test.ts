/**
 * Structured output (engine/json-constraint.ts): the automaton accepts exactly the prefixes of
 * documents of the schema (json_object: any one object); random walks through the masks always
 * end in a document that JSON.parse reads and ajv validates against the schema; unsupported
 * keywords are refused by path; and the engine, masking with it, keeps the NER adapter's greedy
 * answer token for token and keeps the base model inside the schema at every step.
 */
import path from "node:path";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../inference/engine/engine";
import { ANY_OBJECT, compileSchema, isCompleteJsonObject, JsonConstraint, matchSchema, pieceOutputText, SchemaError, type CompiledSchema } from "../../inference/engine/json-constraint";
import { Rng } from "../../inference/engine/sampler";
import { DEMO, FIXTURES, collect, readJson } from "./engine-helpers";

const ajv = new Ajv({ strict: false });

/** every prefix of `text` can still become a document (the automaton never rejects a valid one midway) */
function acceptsPrefixes(schema: CompiledSchema, text: string): boolean {
  for (let i = 0; i <= text.length; i++) if (matchSchema(schema, text.slice(0, i)) === null) return false;
  return true;
}

const PERSON = {
  $defs: { tag: { enum: ["a", "b", 12, 1, null] } },
  type: "object",
  properties: {
    name: { type: "string", description: "annotations are fine" },
    age: { type: "integer" },
    score: { type: ["number", "null"] },
    tags: { type: "array", items: { $ref: "#/$defs/tag" }, maxItems: 2 },
    ok: { type: "boolean" },
    kind: { anyOf: [{ type: "null" }, { type: "object", properties: { x: { const: "y" } }, required: ["x"], additionalProperties: false }] },
    "we\"ird": { type: "string" },
  },
  required: ["name", "age"],
  additionalProperties: false,
};

describe("JSON automaton, json_object", () => {
  it("accepts JSON objects, and every prefix of them", () => {
    for (const doc of ['{}', '{"a": 1}', '{"a": [1, -2.5e+3, 0.0, true, false, null, "x\\n\\u00e9"], "b": {"c": []}}', '{"person": ["Anna Reed"], "organization": []}', '{"é": "ü"}']) {
      expect(isCompleteJsonObject(doc), doc).toBe(true);
      expect(JSON.parse(doc)).toBeTypeOf("object");
      expect(acceptsPrefixes(ANY_OBJECT, doc), doc).toBe(true);
    }
  });

  it("rejects what JSON.parse rejects, and non-objects", () => {
    for (const bad of ['[1]', '"x"', '{a: 1}', '{"a" 1}', '{"a": 01}', '{"a": 1,}', '{"a": [1,]}', '{"a": tru}', '{"a": "\x01"}', '{"a": 1}}', '{"a": 1} x', '{"a": .5}', '{"a": "\\x"}']) {
      expect(isCompleteJsonObject(bad), bad).toBe(false);
    }
  });

  it("caps whitespace between tokens, so a model cannot stall in it", () => {
    expect(matchSchema(ANY_OBJECT, "{  ")).toBe("prefix");
    expect(matchSchema(ANY_OBJECT, "{   ")).toBeNull();
    expect(matchSchema(ANY_OBJECT, '{"a   b": 1}')).toBe("complete"); // inside strings anything goes
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

describe("JSON automaton, with a schema", () => {
  const person = compileSchema(PERSON);

  it("accepts the schema's documents and every prefix of them", () => {
    for (const doc of ['{"name": "x", "age": 3}', '{"age":-1,"name":"y","tags":["a",12],"ok":true,"score":null}', '{"kind": {"x": "y"}, "name": "", "age": 0, "score": -0.5e3}', '{"we\\"ird": "q", "name": "n", "age": 1, "tags": [1, null]}', '{"name":"n","age":1,"tags":[]}']) {
      expect(matchSchema(person, doc), doc).toBe("complete");
      expect(acceptsPrefixes(person, doc), doc).toBe(true);
      expect(ajv.validate(PERSON, JSON.parse(doc)), doc).toBe(true);
    }
  });

  it("rejects documents outside it: missing required, unknown or repeated keys, wrong types, too many items, values not in the enum", () => {
    const bad = [
      '{"name": "x"}', '{"age": 1}', '{"nam": "x", "age": 1}', '{"name": "x", "name": "y", "age": 1}', '{"name": 1, "age": 1}',
      '{"name": "x", "age": 1.5}', '{"name": "x", "age": 1e3}', '{"name": "x", "age": 1, "tags": ["a", "b", "a"]}', '{"name": "x", "age": 1, "tags": ["c"]}',
      '{"name": "x", "age": 1, "tags": [2]}', '{"name": "x", "age": 1, "kind": {}}', '{"name": "x", "age": 1, "ok": null}', '[]', '"x"',
    ];
    for (const doc of bad) expect(matchSchema(person, doc), doc).not.toBe("complete");
  });

  it("top-level values of any type; enums whose values continue each other; recursion through $ref", () => {
    const nums = compileSchema({ enum: [1, 12] });
    expect([matchSchema(nums, "1"), matchSchema(nums, "12"), matchSchema(nums, "13"), matchSchema(nums, "2")]).toEqual(["complete", "complete", null, null]);
    const int = compileSchema({ type: "integer" });
    expect([matchSchema(int, "-7"), matchSchema(int, "-"), matchSchema(int, "7.")]).toEqual(["complete", "prefix", null]);
    const tree = { $defs: { n: { type: "object", properties: { v: { type: "integer" }, kids: { type: "array", items: { $ref: "#/$defs/n" } } }, required: ["v"] } }, $ref: "#/$defs/n" };
    const t = compileSchema(tree);
    expect(matchSchema(t, '{"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}]}')).toBe("complete");
    expect(matchSchema(t, '{"v": 1, "kids": [{"kids": []}]}')).not.toBe("complete");
  });

  it("unsupported keywords are refused with the path to them", () => {
    const path = (s: unknown) => {
      try {
        compileSchema(s);
        return null;
      } catch (e) {
        expect(e).toBeInstanceOf(SchemaError);
        return (e as SchemaError).path.join(".");
      }
    };
    expect(path({ type: "string", pattern: "^a" })).toBe("pattern");
    expect(path({ type: "object", properties: { a: { type: "integer", minimum: 0 } } })).toBe("properties.a.minimum");
    expect(path({ type: "object", properties: { a: { type: "array", items: { type: "string", format: "date" } } } })).toBe("properties.a.items.format");
    expect(path({ anyOf: [{ type: "string" }, { enum: ["a"] }] })).toBe("anyOf");
    expect(path({ type: "date" })).toBe("type");
    expect(path({ $ref: "https://example.com/s.json" })).toBe("$ref");
    expect(path({ type: "object", additionalProperties: { type: "string" } })).toBe("additionalProperties");
    expect(path({ not: { type: "null" } })).toBe("not");
    expect(path(PERSON)).toBeNull();
  });

  it("random walks through the masks end in documents that parse and validate (a character vocabulary plus longer pieces)", () => {
    const texts: (string | null)[] = [];
    for (let c = 32; c < 127; c++) texts.push(String.fromCharCode(c));
    texts.push("\n", '{"', '":', '", "', '"name', '"age": ', "true", "null", '"}', "]}", ', "tags": [', "12", "é", null);
    const eos = texts.length;
    texts.push(null);
    const vocab = { texts, eosIds: new Set([eos]) };
    const rng = new Rng(42);
    for (const schema of [PERSON, { type: "array", items: { type: "number" }, minItems: 1, maxItems: 3 }, { type: "object" }]) {
      const compiled = compileSchema(schema);
      let ended = 0;
      for (let walk = 0; walk < 40; walk++) {
        const c = new JsonConstraint(vocab, compiled);
        let out = "";
        for (let i = 0; i < 400; i++) {
          const allowed = [...c.mask()].flatMap((m, id) => (m ? [id] : []));
          expect(allowed.length, out).toBeGreaterThan(0);
          // prefer closing once possible, so walks end
          const id = allowed.includes(eos) && (i > 60 || rng.next() < 0.3) ? eos : allowed[Math.floor(rng.next() * allowed.length)]!;
          if (id === eos) break;
          c.accept(id);
          out += texts[id];
        }
        if (!c.done) continue; // a walk that ran out of steps (deep nesting)
        ended++;
        expect(ajv.validate(schema, JSON.parse(out)), `${JSON.stringify(schema)}: ${out}`).toBe(true);
      }
      expect(ended).toBeGreaterThan(20);
    }
  });
});

describe("vocabulary pieces as output text", () => {
  it("byte-level BPE through GPT-2's byte alphabet (tab, newline, é, a lone lead byte); SentencePiece and byte fallback", () => {
    expect(["Ġ{", "ĉ", "Ċ", "Ã©", "Ã", "Ġ\"a"].map((p) => pieceOutputText(p, true))).toEqual([" {", "\t", "\n", "é", "\u0080", ' "a']);
    expect(["▁x", "<0x0A>", "<0x7B>", "<0xC3>", "{"].map((p) => pieceOutputText(p, false))).toEqual([" x", "\n", "{", "\u0080", "{"]);
  });

  it.each(["tiny-llama3", "tiny-mistral"])("%s: sampled structured answers stay inside the schema, as decoded (byte-level and byte-fallback vocabularies)", async (name) => {
    const engine = await Engine.create({ modelDir: path.join(FIXTURES, name, "base"), backend: "native", log: null });
    const prompts: { ids: number[] }[] = readJson(path.join(FIXTURES, name, "expected.json")).prompts;
    for (const [i, p] of prompts.entries()) {
      for (const [f, s] of [["json_object" as const, ANY_OBJECT], [{ schema: PERSON }, compileSchema(PERSON)]] as const) {
        const r = await collect(engine.generate({ promptIds: p.ids, maxNewTokens: 40, responseFormat: f, sampling: { temperature: 1.5, seed: 11 + i } }));
        const text = r.done!.text.trimStart();
        expect(matchSchema(s, text), JSON.stringify(text)).not.toBeNull();
      }
    }
    await engine.shutdown();
  });
});

describe("engine with response_format (demo model)", () => {
  let engine: Engine;
  const expected = readJson(path.join(DEMO, "expected.json"));
  const ner = expected.prompts.findIndex((p: { task: string }) => p.task === "ner");
  const list = { type: "array", items: { type: "string" } };
  const NER = { type: "object", properties: { person: list, organization: list, location: list }, required: ["person", "organization", "location"], additionalProperties: false };

  beforeAll(async () => {
    engine = await Engine.create({ modelDir: path.join(DEMO, "base"), backend: "native", log: null });
    await engine.registerAdapter("ner", path.join(DEMO, "adapters", "ner"), "local");
  });
  afterAll(async () => {
    await engine?.shutdown();
  });

  it("the NER adapter's greedy JSON is unchanged token for token and parses (json_object, and the NER card's schema)", async () => {
    for (const responseFormat of ["json_object" as const, { schema: NER }]) {
      const r = await collect(engine.generate({ promptIds: expected.prompts[ner].ids, adapterId: "ner", maxNewTokens: 64, responseFormat }));
      expect(r.ids).toEqual(expected.runs.ner[ner].greedy);
      expect(r.done!.finishReason).toBe("eos_token");
      expect(JSON.parse(r.done!.text)).toEqual(JSON.parse(expected.runs.ner[ner].greedy_text));
    }
  });

  it("the base model (no JSON of its own) stays inside the schema at every step, greedy and sampled; what it closes parses and validates", async () => {
    const schemas = [{ f: "json_object" as const, s: ANY_OBJECT, raw: { type: "object" } }, { f: { schema: NER }, s: compileSchema(NER), raw: NER }, { f: { schema: PERSON }, s: compileSchema(PERSON), raw: PERSON }];
    for (const p of expected.prompts) {
      for (const { f, s, raw } of schemas) {
        for (const sampling of [undefined, { temperature: 1, seed: 5 }]) {
          const r = await collect(engine.generate({ promptIds: p.ids, maxNewTokens: 48, responseFormat: f, sampling }));
          const text = r.done!.text.trimStart();
          expect(matchSchema(s, text), text).not.toBeNull();
          if (r.done!.finishReason === "eos_token") expect(ajv.validate(raw, JSON.parse(text)), text).toBe(true);
        }
      }
    }
  });

  it("an unsupported schema is an invalid_request error naming the keyword's path", async () => {
    const r = await collect(engine.generate({ promptIds: [1, 2], maxNewTokens: 4, responseFormat: { schema: { type: "object", properties: { a: { type: "string", maxLength: 3 } } } } }));
    expect(r.error?.code).toBe("invalid_request");
    expect(r.error?.message).toContain("response_format.schema.properties.a.maxLength");
  });
});
