/** Training config validation (fields named, flags first, paths) and dataset reading/accounting. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tokenizer } from "../../inference/tokenizer/tokenizer";
import { loadConfig, targetModules, TrainConfigError, validateConfig } from "../../inference/train/config";
import { assertUsable, prepareExamples, previewRows, readRows, TrainDataError } from "../../inference/train/dataset";
import { packExamples } from "../../inference/train/batch";
import { DEMO_BASE } from "./helpers";

const tmp = mkdtempSync(path.join(os.tmpdir(), "train-cfg-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const minimal = { base_model: "data/demo/base", dataset: "d.jsonl", prompt_template: "Q: {q}\nA:" };

function refusal(fn: () => unknown): TrainConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TrainConfigError);
    return e as TrainConfigError;
  }
  throw new Error("expected a refusal");
}

describe("config", () => {
  it("fills Ludwig-style defaults and resolves relative paths against the current directory", () => {
    const cfg = validateConfig(minimal, {}, "/srv/x");
    expect(cfg.base_model).toBe("/srv/x/data/demo/base");
    expect(cfg.dataset).toBe("/srv/x/d.jsonl");
    expect(cfg.output_column).toBe("output");
    expect(cfg.adapter).toMatchObject({ r: 8, alpha: 16, dropout: 0.05 });
    expect(cfg.trainer).toMatchObject({ validation_split: 0, batch_size: 16, gradient_accumulation: 1 });
    expect(targetModules(validateConfig({ ...minimal, adapter: { target_modules: "all-linear" } }))).toHaveLength(7);
  });

  it("names the field of every refusal", () => {
    expect(refusal(() => validateConfig({ ...minimal, trainer: { learning_rate: -1 } })).field).toBe("trainer.learning_rate");
    expect(refusal(() => validateConfig({ ...minimal, adapter: { r: 0 } })).field).toBe("adapter.r");
    const tm = refusal(() => validateConfig({ ...minimal, adapter: { target_modules: ["qkv"] } }));
    expect(tm.field).toBe("adapter.target_modules");
    expect(tm.message).toMatch(/^adapter\.target_modules: must be "all-linear" or a non-empty list of q_proj, k_proj/);
    expect(refusal(() => validateConfig({ ...minimal, trainer: { validation_split: 1 } })).field).toBe("trainer.validation_split");
    const missing = refusal(() => validateConfig({ dataset: "d.jsonl", prompt_template: "{q}" }));
    expect(missing.field).toBe("base_model");
    expect(missing.message).toBe("base_model: is required");
    const typo = refusal(() => validateConfig({ ...minimal, trainer: { epoch: 3 } }));
    expect(typo.message).toMatch(/unknown key "trainer\.epoch"/);
    expect(refusal(() => validateConfig({ ...minimal, prompt_template: "Q: {q" })).field).toBe("prompt_template");
    expect(refusal(() => validateConfig({ ...minimal, prompt_template: "{output} is leaked" })).message).toMatch(/output column "output"/);
  });

  it("flags override the config before validation (a missing key can come from a flag)", () => {
    const { base_model: _omit, ...noModel } = minimal;
    void _omit;
    const cfg = validateConfig(noModel, { model: "m", data: "other.csv", out: "o" }, "/w");
    expect([cfg.base_model, cfg.dataset, cfg.output_dir]).toEqual(["/w/m", "/w/other.csv", "/w/o"]);
  });

  it("reads YAML and JSON files; a bad file is refused naming it", () => {
    writeFileSync(path.join(tmp, "c.yaml"), "base_model: b\ndataset: d.csv\nprompt_template: \"{x}\"\ntrainer:\n  epochs: 2\n");
    writeFileSync(path.join(tmp, "c.json"), JSON.stringify({ ...minimal, trainer: { epochs: 2 } }));
    expect(loadConfig("c.yaml", {}, tmp).trainer.epochs).toBe(2);
    expect(loadConfig("c.json", {}, tmp).trainer.epochs).toBe(2);
    writeFileSync(path.join(tmp, "bad.yaml"), "a: [1, 2\n");
    expect(() => loadConfig("bad.yaml", {}, tmp)).toThrow(/bad\.yaml is not valid YAML or JSON/);
    expect(refusal(() => loadConfig("nope.yaml", {}, tmp)).field).toBe("config");
  });
});

describe("datasets", () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await Tokenizer.load(DEMO_BASE);
  });
  const opts = () => ({ template: "Review: {review}\nSentiment:", outputColumn: "output", maxLength: 512, tokenizer: tok, eosId: 2 });

  it("parses CSV with quotes, escaped quotes, embedded newlines and CRLF", () => {
    const f = path.join(tmp, "d.csv");
    writeFileSync(f, '\ufeffreview,output\r\n"great, really ""good""",positive\r\n"line one\nline two",negative\r\nplain,positive\r\n');
    expect(readRows(f).rows).toEqual([
      { review: 'great, really "good"', output: "positive" },
      { review: "line one\nline two", output: "negative" },
      { review: "plain", output: "positive" },
    ]);
  });

  it("reads gzipped JSONL (by its magic bytes) and counts lines that are not objects", () => {
    const f = path.join(tmp, "d.jsonl.gz");
    writeFileSync(f, gzipSync('{"review":"a","output":"positive"}\nnot json\n[1]\n\n{"review":"b","output":"negative"}\n'));
    const { rows, invalid } = readRows(f);
    expect(rows).toHaveLength(2);
    expect(invalid).toBe(2);
  });

  it("renders prompts as the eval harness does: <s> + prompt, output tokens, </s>; targets are the output and </s>", () => {
    const { examples, stats } = prepareExamples([{ review: "Nice phone.", output: "positive" }], 0, opts());
    const prompt = tok.encode("Review: Nice phone.\nSentiment:");
    const out = tok.encode("positive", { addSpecialTokens: false });
    expect(prompt[0]).toBe(1);
    expect(Array.from(examples[0].ids)).toEqual([...prompt, ...out, 2]);
    expect(examples[0].promptLen).toBe(prompt.length);
    expect(stats).toMatchObject({ rows: 1, usable: 1, targetTokens: out.length + 1 });
    const b = packExamples([examples[0], examples[0]]);
    expect(b.tokens.length).toBe(2 * (examples[0].ids.length - 1));
    expect(Array.from(b.targets)).toEqual([...out, 2, ...out, 2]);
    expect(Array.from(b.seqStarts)).toEqual([0, examples[0].ids.length - 1, 2 * (examples[0].ids.length - 1)]);
    expect(b.positions[examples[0].ids.length - 1]).toBe(0);
  });

  it("counts rows missing a column, empty outputs, rows cut at max_length and prompts that fill it", () => {
    const long = "word ".repeat(80);
    const rows = [
      { review: "ok", output: "positive" },
      { output: "negative" },
      { review: null, output: "negative" },
      { review: "no label" },
      { review: "empty", output: " " },
      { review: "short", output: long },
      { review: long, output: "positive" },
    ];
    const { examples, stats } = prepareExamples(rows, 1, { ...opts(), maxLength: 40 });
    expect(stats).toMatchObject({ rows: 8, usable: 2, invalidRows: 1, emptyOutput: 1, truncated: 1, tooLong: 1, missingColumn: { review: 2, output: 1 } });
    expect(examples.every((e) => e.ids.length <= 40)).toBe(true);
  });

  it("previews rows as the page shows them: rendered prompt, token counts, what happens to the row", () => {
    const p = previewRows([{ review: "Fine.", output: "positive" }, { output: "x" }, { review: "long ".repeat(60), output: "negative" }], { ...opts(), maxLength: 40 }, 5);
    expect(p[0]).toEqual({ index: 0, status: "ok", prompt: "Review: Fine.\nSentiment:", output: "positive", promptTokens: tok.encode("Review: Fine.\nSentiment:").length, targetTokens: 2 });
    expect(p[1]).toEqual({ index: 1, status: "missing_column", missing: "review" });
    expect(p[2].status).toBe("too_long");
  });

  it("refuses a dataset with no usable row, saying why", () => {
    const { stats } = prepareExamples([{ text: "a", output: "b" }, { text: "c", output: "d" }], 0, opts());
    expect(() => assertUsable(stats, "/x/my.csv")).toThrow(TrainDataError);
    expect(() => assertUsable(stats, "/x/my.csv")).toThrow('my.csv has no usable row: of 2 rows, 2 missing column "review"');
    expect(() => assertUsable(prepareExamples([], 0, opts()).stats, "/x/e.jsonl")).toThrow("e.jsonl has no rows");
    expect(() => readRows(path.join(tmp, "x.parquet"))).toThrow(/cannot read dataset/);
    writeFileSync(path.join(tmp, "x.txt"), "hello");
    expect(() => readRows(path.join(tmp, "x.txt"))).toThrow(/unknown dataset format/);
  });
});
