import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderTemplate, templateColumns, TemplateError } from "../../components/playground/template";

describe("prompt templates (Python str.format rules)", () => {
  it("renders fields and literal braces as Python does", () => {
    // Python: 'JSON: {{"a": [{x}]}} and {y}{x}'.format(x="1", y="{z}") == 'JSON: {"a": [1]} and {z}1'
    expect(renderTemplate('JSON: {{"a": [{x}]}} and {y}{x}', { x: "1", y: "{z}" })).toBe('JSON: {"a": [1]} and {z}1');
    expect(templateColumns('JSON: {{"a": [{x}]}} and {y}{x}')).toEqual(["x", "y"]);
    expect(renderTemplate("{{}}", {})).toBe("{}");
  });

  it("rejects what Python rejects, naming the problem", () => {
    expect(() => renderTemplate("a } b", {})).toThrow(/single "}" at position 2/);
    expect(() => renderTemplate("a { b", {})).toThrow(TemplateError);
    expect(() => renderTemplate("{x}", {})).toThrow(/missing input "x"/);
    expect(() => templateColumns("{a b}")).toThrow(/not a column name/);
  });

  it("renders every bundled demo template with its own test rows (NER's JSON braces included)", () => {
    const tasks = JSON.parse(readFileSync("data/demo/tasks/tasks.json", "utf8")) as { slug: string; prompt_template: string; input_columns: string[] }[];
    const ner = tasks.find((t) => t.slug === "ner")!;
    expect(ner.prompt_template).toContain("{{");
    for (const t of tasks) {
      expect(templateColumns(t.prompt_template).sort()).toEqual([...t.input_columns].sort());
      const row = JSON.parse(readFileSync(`data/demo/tasks/${t.slug}/test.jsonl`, "utf8").split("\n")[0]!) as Record<string, string>;
      const out = renderTemplate(t.prompt_template, row);
      for (const c of t.input_columns) expect(out).toContain(row[c]);
      expect(out).not.toMatch(/\{\{|\}\}/);
    }
  });
});
