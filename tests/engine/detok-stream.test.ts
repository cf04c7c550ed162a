import { describe, expect, it } from "vitest";
import path from "node:path";
import { Tokenizer } from "../../inference/tokenizer/tokenizer";
import { StreamingDetokenizer, type DecodingTokenizer } from "../../inference/engine/detokenizer";

// The project's Tokenizer (tokenizer.json through @huggingface/tokenizers) on every fixture vocabulary.
async function load(dir: string): Promise<DecodingTokenizer & { encode(text: string): number[] }> {
  const tok = await Tokenizer.load(dir);
  return {
    encode: (text) => tok.encode(text, { addSpecialTokens: true }),
    decode: (ids, o) => (ids.length ? tok.decode(ids, o) : ""),
  };
}

const ROOT = path.resolve(import.meta.dirname, "../..");
const TOKENIZERS = {
  "tiny-llama": path.join(ROOT, "tests/data/fixtures/tiny-llama/base"),
  "tiny-llama3": path.join(ROOT, "tests/data/fixtures/tiny-llama3/base"),
  "tiny-mistral": path.join(ROOT, "tests/data/fixtures/tiny-mistral/base"),
  demo: path.join(ROOT, "data/demo/base"),
};
const TEXTS = [
  "Hello world! été — naïve café 😀 你好",
  "  leading spaces and\ttabs\nnew lines  ",
  "emoji 👩‍👩‍👧‍👦 and 🇫🇷 flags, CJK 日本語のテキスト, accents àéîõü",
  "The licensee may copy and distribute the Program.",
];

const LOADED = Object.fromEntries(await Promise.all(Object.entries(TOKENIZERS).map(async ([k, dir]) => [k, await load(dir)] as const)));

describe.each(Object.keys(TOKENIZERS))("streaming detokenizer (%s)", (name) => {
  const tok = LOADED[name]!;

  it.each(TEXTS)("never emits half a character and matches the full decode: %s", (text) => {
    const ids = tok.encode(text);
    for (const split of [0, 1, 2, Math.floor(ids.length / 2)]) {
      if (split > ids.length) continue;
      const prompt = ids.slice(0, split);
      // a prompt that itself ends inside a UTF-8 character has no well-defined text to continue
      if (tok.decode(prompt, { skipSpecialTokens: true }).endsWith("\uFFFD")) continue;
      const gen = ids.slice(split);
      const d = new StreamingDetokenizer(tok, prompt);
      const pieces = gen.map((id) => d.push(id));
      pieces.push(d.flush());
      for (const p of pieces) expect(p).not.toContain("\uFFFD");
      const full = tok.decode(ids, { skipSpecialTokens: true });
      const promptText = tok.decode(prompt, { skipSpecialTokens: true });
      expect(full.startsWith(promptText)).toBe(true);
      expect(pieces.join("")).toBe(full.slice(promptText.length));
    }
  });

  it("keeps the leading space of the first generated token", () => {
    const prompt = tok.encode("Hello");
    const all = tok.encode("Hello world");
    expect(all.slice(0, prompt.length)).toEqual(prompt);
    const d = new StreamingDetokenizer(tok, prompt);
    const text = all.slice(prompt.length).map((id) => d.push(id)).join("") + d.flush();
    expect(text).toBe(" world");
  });
});

describe("streaming detokenizer with byte-fallback pieces", () => {
  it("holds the bytes of a 4-byte emoji until the character is complete", () => {
    const tok = LOADED["tiny-llama"]!;
    const ids = tok.encode("a😀");
    const d = new StreamingDetokenizer(tok, ids.slice(0, 2));
    const rest = ids.slice(2);
    expect(rest.length).toBeGreaterThan(1); // the emoji is split over byte tokens in this vocab
    const pieces = rest.map((id) => d.push(id));
    expect(pieces.slice(0, -1).every((p) => p === "")).toBe(true);
    expect(pieces.at(-1)).toBe("😀");
  });

  it("flush emits an incomplete trailing character as the full decode renders it", () => {
    const tok = LOADED["tiny-llama"]!;
    const ids = tok.encode("a😀");
    const cut = ids.slice(0, -1);
    const d = new StreamingDetokenizer(tok, cut.slice(0, 2));
    const text = cut.slice(2).map((id) => d.push(id)).join("") + d.flush();
    const full = tok.decode(cut, { skipSpecialTokens: true });
    expect(text).toBe(full.slice(tok.decode(cut.slice(0, 2), { skipSpecialTokens: true }).length));
  });
});
