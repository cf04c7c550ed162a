/**
 * Task cards (data/demo/tasks/tasks.json) and their fixed test splits (tasks/<slug>/test.jsonl):
 * what the eval harness runs. Prompts are the card's template rendered with the row's input
 * columns by Python `str.format` rules, as LoRA Land did.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { renderTemplate } from "../../components/playground/template";
import { isMetricName, type MetricName } from "./metrics";

export const DEFAULT_TASKS_DIR = "data/demo/tasks";

const taskCardSchema = z.object({
  slug: z.string().regex(/^[a-z0-9_-]+$/, "slug must be lowercase letters, digits, _ or -"),
  name: z.string(),
  category: z.string(),
  description: z.string(),
  prompt_template: z.string(),
  input_columns: z.array(z.string()),
  output_column: z.string(),
  metric: z.string().refine(isMetricName, "unknown metric"),
  source: z.string().default(""),
  train_examples: z.number().int().optional(),
  test_examples: z.number().int().optional(),
});

export type TaskCard = Omit<z.infer<typeof taskCardSchema>, "metric"> & { metric: MetricName };

/** One test row: the prompt the model sees and the answer it should give. */
export interface EvalExample {
  /** 0-based line number in test.jsonl */
  index: number;
  inputs: Record<string, string>;
  prompt: string;
  reference: string;
}

export function loadTaskCards(tasksDir = DEFAULT_TASKS_DIR): TaskCard[] {
  const file = path.join(tasksDir, "tasks.json");
  const parsed = z.array(taskCardSchema).safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
  if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return parsed.data as TaskCard[];
}

export function findTaskCard(slug: string, tasksDir = DEFAULT_TASKS_DIR): TaskCard | undefined {
  return loadTaskCards(tasksDir).find((t) => t.slug === slug);
}

/** The row's input columns as strings (str.format would print numbers the same way). */
function inputsOf(card: TaskCard, row: Record<string, unknown>, where: string): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const col of card.input_columns) {
    const v = row[col];
    if (v === undefined || v === null) throw new Error(`${where}: missing input column "${col}"`);
    inputs[col] = typeof v === "string" ? v : String(v);
  }
  return inputs;
}

/** Render a card's prompt for some inputs (throws naming a missing column or a bad brace). */
export function renderPrompt(card: Pick<TaskCard, "prompt_template">, inputs: Record<string, string>): string {
  return renderTemplate(card.prompt_template, inputs);
}

/** The test split, in file order; `limit` keeps the first N rows. */
export function loadTestExamples(card: TaskCard, opts: { tasksDir?: string; limit?: number } = {}): EvalExample[] {
  const file = path.join(opts.tasksDir ?? DEFAULT_TASKS_DIR, card.slug, "test.jsonl");
  const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "");
  const take = opts.limit === undefined ? lines : lines.slice(0, opts.limit);
  return take.map((line, index) => {
    const where = `${file}:${index + 1}`;
    const row = JSON.parse(line) as Record<string, unknown>;
    const inputs = inputsOf(card, row, where);
    const reference = row[card.output_column];
    if (typeof reference !== "string") throw new Error(`${where}: output column "${card.output_column}" is not a string`);
    return { index, inputs, prompt: renderPrompt(card, inputs), reference };
  });
}
