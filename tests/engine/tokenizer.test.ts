import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Tokenizer } from "../../inference/tokenizer/tokenizer";
import { ModelLoadError } from "../../inference/errors";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CASES = [
  ["tiny-llama (normalizer-based byte-fallback BPE)", "tests/data/fixtures/tiny-llama"],
  ["tiny-mistral", "tests/data/fixtures/tiny-mistral"],
  ["tiny-llama3 (byte-level BPE)", "tests/data/fixtures/tiny-llama3"],
  ["mini LoRA Land (Metaspace)", "data/demo"],
] as const;

describe.each(CASES)("tokenizer: %s", (_label, rel) => {
  const dir = path.join(ROOT, rel);
  const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8"));

  it("encodes with the post-processor's special tokens and decodes skipping them, as transformers does", async () => {
    const tok = await Tokenizer.load(path.join(dir, "base"));
    for (const c of expected.tokenizer as { text: string; ids: number[]; decoded: string }[]) {
      expect(tok.encode(c.text), JSON.stringify(c.text)).toEqual(c.ids);
      expect(tok.decode(c.ids, { skipSpecialTokens: true })).toBe(c.decoded);
    }
    for (const p of expected.prompts as { text: string; ids: number[] }[]) expect(tok.encode(p.text)).toEqual(p.ids);
  });

  it("knows BOS/EOS and which ids are special", async () => {
    const tok = await Tokenizer.load(path.join(dir, "base"));
    expect(tok.bosId).not.toBeNull();
    expect(tok.eosIds.length).toBe(1);
    expect(tok.isSpecial(tok.eosIds[0])).toBe(true);
    expect(tok.isSpecial(tok.bosId!)).toBe(true);
    expect(tok.isSpecial(300)).toBe(false);
    expect(tok.chatTemplate).toBeNull();
  });
});

describe("tokenizer errors", () => {
  it("a directory without tokenizer.json is a ModelLoadError naming the file", async () => {
    await expect(Tokenizer.load(path.join(ROOT, "tests/data"))).rejects.toThrow(ModelLoadError);
    await expect(Tokenizer.load(path.join(ROOT, "tests/data"))).rejects.toThrow(/tokenizer\.json/);
  });
});
