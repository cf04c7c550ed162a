/**
 * The pure parts of structured output and merged panes: the schema a task card implies (its JSON
 * example), schema problems named as the worker names them, merge recipes' names (round trip, no
 * comma: links list panes with commas), and links that keep the schema and the recipe.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { isRecipeLabel, paneModelOf, parseRecipe, recipeLabel, withStrategy, type MergedAdapters } from "../../components/compare/merged-recipe";
import { firstJsonObject, parseSchemaText, schemaFromCard, schemaProblem } from "../../components/playground/structured-output";
import { parseSetup, setupQuery } from "../../components/playground/url-state";
import { paramsText } from "../../components/history/errors";

const catalogTasks = JSON.parse(fs.readFileSync(path.resolve("data/catalog/lora-land-tasks.json"), "utf8")) as { dataset: string; metadata: { prompt_template: string; expected_output_format: string } | null }[];

describe("the schema a card implies", () => {
  it("LoRA Land's CoNLL++ card: its example's keys, empty lists typed like their siblings", () => {
    const m = catalogTasks.find((t) => t.dataset === "conllpp")!.metadata!;
    const s = schemaFromCard({ expectedOutputFormat: m.expected_output_format, promptTemplate: m.prompt_template });
    const list = { type: "array", items: { type: "string" } };
    expect(s).toEqual({ type: "object", properties: { person: list, organization: list, location: list, miscellaneous: list }, required: ["person", "organization", "location", "miscellaneous"], additionalProperties: false });
  });
  it("a JSON card without an example: any object; a card whose answer is not JSON: none", () => {
    expect(schemaFromCard({ expectedOutputFormat: "json", promptTemplate: "Passage: {passage}\nAnswer:" })).toEqual({ type: "object" });
    expect(schemaFromCard({ expectedOutputFormat: "sql", promptTemplate: "{q}" })).toBeNull();
    expect(schemaFromCard(null)).toBeNull();
  });
  it("finds the first JSON object in text, skipping braces that are not JSON", () => {
    expect(firstJsonObject(`{'a': 1} then {"b": [1, {"c": "}"}]} and {"d": 2}`)).toEqual({ b: [1, { c: "}" }] });
    expect(firstJsonObject("no json {here}")).toBeNull();
  });
  it("schema problems are named by their path, as the worker names them", () => {
    expect(schemaProblem({ type: "object", properties: { age: { type: "integer", minimum: 0 } } })).toMatch(/^properties\.age\.minimum: /);
    expect(schemaProblem(["x"])).toBe("the schema must be a JSON object");
    expect(schemaProblem({ type: "object", properties: { x: { type: "string", description: "y".repeat(9000) } } })).toMatch(/longer than/);
    expect(parseSchemaText("{").error).toMatch(/^not JSON/);
    expect(parseSchemaText('{"type": "object"}')).toEqual({ schema: { type: "object" }, error: null });
  });
});

describe("merge recipes' names", () => {
  const recipes: MergedAdapters[] = [
    { ids: ["ner", "sql"], weights: [0.5, 0.5], merge_strategy: "linear" },
    { ids: ["org/repo-1.0", "b_c", "d"], weights: [-0.25, 2, 1e-7], merge_strategy: "dare_linear", density: 0.3 },
    { ids: ["a", "b"], weights: [1, 1], merge_strategy: "ties", density: 0.5, majority_sign_method: "frequency" },
    withStrategy({ ids: ["a", "b"], weights: [1, 0.5], merge_strategy: "linear" }, "dare_ties"),
  ];
  it("round-trip, hold no comma, and are told apart from adapter ids", () => {
    for (const m of recipes) {
      const label = recipeLabel(m);
      expect(label).not.toContain(",");
      expect(isRecipeLabel(label)).toBe(true);
      expect(parseRecipe(label)).toEqual(m);
      expect(paneModelOf(label)).toEqual({ merged_adapters: m });
    }
    expect(recipeLabel(recipes[0]!)).toBe("merged:linear(ner*0.5+sql*0.5)");
    expect(recipes[3]).toEqual({ ids: ["a", "b"], weights: [1, 0.5], merge_strategy: "dare_ties", density: 0.5, majority_sign_method: "total" });
    for (const id of ["ner", null, "merged:svd(a*1+b*1)", "merged:linear(a+b)"]) expect(paneModelOf(id)).toBe(id);
  });
});

describe("links keep the schema and the recipe", () => {
  it("p.schema round-trips; a merged pane is listed by its name", () => {
    const schema = { type: "object", properties: { person: { type: "array", items: { type: "string" } } }, required: ["person"] };
    const recipe = recipeLabel({ ids: ["ner", "sql"], weights: [0.7, 0.3], merge_strategy: "ties", density: 0.5, majority_sign_method: "total" });
    const q = setupQuery({ models: ["ner", recipe], mode: "raw", prompt: "p", params: { max_new_tokens: 8, response_format: { type: "json_object", schema } } }, true);
    const back = parseSetup(Object.fromEntries(new URLSearchParams(q)));
    expect(back.models).toEqual(["ner", recipe]);
    expect(back.params.response_format).toEqual({ type: "json_object", schema });
    // json_object without a schema: the schema of any object
    const plain = parseSetup(Object.fromEntries(new URLSearchParams(setupQuery({ models: ["ner"], mode: "raw", params: { max_new_tokens: 8, response_format: { type: "json_object" } } }, false))));
    expect(plain.params.response_format).toEqual({ type: "json_object", schema: { type: "object" } });
    expect(parseSetup({ "p.schema": "[1]" }).params.response_format).toBeUndefined();
  });
});

describe("history's parameter line", () => {
  it("shows the schema as JSON", () => {
    expect(paramsText({ max_new_tokens: 8, response_format: { type: "json_object", schema: { type: "object" } } })).toBe('max_new_tokens = 8 · response_format = {"type":"json_object","schema":{"type":"object"}}');
  });
});
