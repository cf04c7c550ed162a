import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadTaskCards, loadTestExamples, renderPrompt } from "../../server/eval/tasks";

const expected = JSON.parse(fs.readFileSync("data/demo/expected.json", "utf8")) as { prompts: { task: string; text: string }[] };

describe("task cards", () => {
  it("loads the nine bundled cards with their metrics and split sizes", () => {
    const cards = loadTaskCards();
    expect(cards.map((c) => c.slug).sort()).toEqual(["arithmetic", "cmudict", "e2e", "fortune_topic", "ner", "sentiment", "spam", "sql", "wordnet"]);
    const bySlug = Object.fromEntries(cards.map((c) => [c.slug, c]));
    expect(bySlug.ner!.metric).toBe("json_match");
    expect(bySlug.wordnet!.metric).toBe("rouge_l");
    for (const card of cards) {
      const rows = loadTestExamples(card);
      expect(rows.length).toBe(card.test_examples);
      expect(rows[0]!.index).toBe(0);
    }
  });

  it("renders prompts exactly as the reference harness did (expected.json)", () => {
    const cards = Object.fromEntries(loadTaskCards().map((c) => [c.slug, c]));
    expect(expected.prompts.length).toBe(3);
    for (const p of expected.prompts) {
      const examples = loadTestExamples(cards[p.task]!);
      expect(examples.map((e) => e.prompt)).toContain(p.text);
    }
    const ner = loadTestExamples(cards.ner!, { limit: 1 })[0]!;
    expect(ner.prompt).toContain('Entities: {"person": ["Anna Reed"], "organization": ["Granite Labs"], "location": ["Ohio"]}');
    expect(ner.prompt.endsWith("Entities:")).toBe(true);
    expect(ner.reference).toBe('{"person": ["Aldo Moore"], "organization": ["Harbor Logistics"], "location": ["Iowa"]}');
  });

  it("limit keeps the first rows", () => {
    const card = loadTaskCards().find((c) => c.slug === "sql")!;
    const all = loadTestExamples(card);
    expect(loadTestExamples(card, { limit: 3 })).toEqual(all.slice(0, 3));
  });
});

describe("str.format rendering", () => {
  it("substitutes columns and unescapes doubled braces", () => {
    expect(renderPrompt({ prompt_template: "{{a}} {x} {{{y}}}" }, { x: "1", y: "{2}" })).toBe("{a} 1 {{2}}");
  });
  it("errors name the missing column or the bad brace", () => {
    expect(() => renderPrompt({ prompt_template: "Q: {question}" }, {})).toThrow(/question/);
    expect(() => renderPrompt({ prompt_template: "a } b" }, {})).toThrow(/"}"/);
    expect(() => renderPrompt({ prompt_template: "a { b" }, {})).toThrow(/"\{"/);
  });
  it("a test row without an input column is a clear error", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eval-tasks-"));
    const card = { ...loadTaskCards().find((c) => c.slug === "sql")! };
    fs.mkdirSync(path.join(dir, "sql"));
    fs.writeFileSync(path.join(dir, "sql", "test.jsonl"), JSON.stringify({ table: "t", question: "q", output: "x" }) + "\n");
    expect(() => loadTestExamples(card, { tasksDir: dir })).toThrow(/missing input column "columns"/);
    fs.rmSync(dir, { recursive: true });
  });
});
