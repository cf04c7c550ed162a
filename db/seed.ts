/**
 * Seeds the catalog from the project's data (idempotent: upserts, run at every start):
 * - data/catalog: the 27 LoRA Land adapters of mistralai/Mistral-7B-v0.1 and their figures
 *   published by Predibase;
 * - data/demo/tasks: the bundled demo adapters of `loraland-mini` ("Runs here"), with their first
 *   test rows as sample inputs.
 * Measured metrics and user-registered adapters are never touched.
 */
import fs from "node:fs";
import path from "node:path";
import { getTableColumns, sql, type SQL } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import type { Db } from "./client";
import { adapters, baseModels, metrics, type ModelLabel } from "./schema/catalog";

export const LORA_LAND_BASE = "mistralai/Mistral-7B-v0.1";
export const DEMO_BASE = "loraland-mini";
/** When Predibase published the LoRA Land table (blog post, Feb 20 2024). */
const PUBLISHED_AT = new Date("2024-02-20T00:00:00Z");
const PUBLISHED_BY = "Predibase, LoRA Land (Feb 2024)";
const SAMPLE_ROWS = 3;

/** Categories for the three rows whose task metadata Predibase did not keep. */
const CATEGORY_FALLBACK: Record<string, string> = {
  drop_explained: "Other",
  agnews_explained: "Topic Identification",
  cnn: "Summarization",
};

interface PublishedRow {
  adapter_name: string;
  dataset: string;
  hf_adapter_repo: string;
  metric: string;
  fine_tuned: string;
  gpt_4: string;
  gpt_35_turbo: string;
  mistral_7b_instruct: string;
  mistral_7b: string;
  note: string;
}

interface TaskMetadata {
  adapter_ui_name: string;
  adapter_category: string;
  dataset_description: string;
  dataset_link: string;
  metric_name: string;
  prompt_template: string;
  input_columns: string;
  target_col: string;
  expected_output_format: string;
}

interface TaskEntry {
  adapter_name: string;
  dataset: string;
  hf_adapter_repo: string;
  metadata: TaskMetadata | null;
}

interface DemoTask {
  slug: string;
  name: string;
  category: string;
  description: string;
  prompt_template: string;
  input_columns: string[];
  output_column: string;
  metric: string;
  source: string;
  train_examples: number;
  test_examples: number;
}

/** RFC 4180 CSV (quoted fields, doubled quotes) into records keyed by the header. */
export function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  const endField = () => {
    row.push(field);
    field = "";
  };
  const endRow = () => {
    endField();
    rows.push(row);
    row = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") endField();
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRow();
    } else field += c;
  }
  if (field !== "" || row.length) endRow();
  const [header, ...body] = rows.filter((r) => r.some((f) => f !== ""));
  if (!header) return [];
  return body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ""])));
}

/** URL slug of a LoRA Land adapter: its HF repo name, else the dataset. */
export function loraLandSlug(row: { hf_adapter_repo?: string; dataset?: string }): string {
  return (row.hf_adapter_repo ? row.hf_adapter_repo.split("/").pop()! : (row.dataset ?? "")).toLowerCase();
}

/** `set` for an upsert: each listed column takes the value of the row that conflicted. */
function excluded<T extends PgTable>(table: T, keys: (keyof T["_"]["columns"] & string)[]): Record<string, SQL> {
  const cols = getTableColumns(table) as Record<string, { name: string }>;
  return Object.fromEntries(keys.map((k) => [k, sql.raw(`excluded."${cols[k]!.name}"`)]));
}

function readJsonl(file: string, limit: number): Record<string, unknown>[] {
  if (!fs.existsSync(file)) return [];
  const out: Record<string, unknown>[] = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (out.length >= limit) break;
    if (line.trim()) out.push(JSON.parse(line) as Record<string, unknown>);
  }
  return out;
}

export interface SeedOptions {
  /** project root holding data/ (default: cwd) */
  root?: string;
}

export interface SeedResult {
  baseModels: number;
  adapters: number;
  publishedMetrics: number;
}

export async function seedCatalog(db: Db, opts: SeedOptions = {}): Promise<SeedResult> {
  const root = opts.root ?? process.cwd();
  const published = parseCsv(
    fs.readFileSync(path.join(/*turbopackIgnore: true*/ root, "data/catalog/lora-land-published-metrics.csv"), "utf8"),
  ) as unknown as PublishedRow[];
  const tasks = JSON.parse(
    fs.readFileSync(path.join(/*turbopackIgnore: true*/ root, "data/catalog/lora-land-tasks.json"), "utf8"),
  ) as TaskEntry[];
  const demo = JSON.parse(fs.readFileSync(path.join(/*turbopackIgnore: true*/ root, "data/demo/tasks/tasks.json"), "utf8")) as DemoTask[];

  const baseRows: (typeof baseModels.$inferInsert)[] = [
    {
      id: LORA_LAND_BASE,
      displayName: "Mistral-7B-v0.1",
      description: "The base model of Predibase's LoRA Land: 27 task adapters (LoRA r=8 on q_proj/v_proj), all served by one LoRAX instance on one A100.",
      hfRepo: LORA_LAND_BASE,
      parameters: "7.2B",
    },
    {
      id: DEMO_BASE,
      displayName: "loraland-mini",
      description: "The bundled demo base model: a 6.6M-parameter Mistral-architecture model trained from scratch, with nine task adapters (LoRA r=16 on all projections).",
      hfRepo: null,
      parameters: "6.6M",
    },
  ];

  const adapterRows: (typeof adapters.$inferInsert)[] = [];
  const metricRows: (typeof metrics.$inferInsert)[] = [];

  published.forEach((row, i) => {
    const task =
      tasks.find((t) => t.hf_adapter_repo === row.hf_adapter_repo && t.dataset === row.dataset && row.hf_adapter_repo) ??
      tasks.find((t) => t.adapter_name === row.adapter_name);
    const meta = task?.metadata ?? null;
    const slug = loraLandSlug(row);
    adapterRows.push({
      slug,
      adapterId: row.hf_adapter_repo || `predibase/${row.dataset}`,
      baseModelId: LORA_LAND_BASE,
      collection: "lora-land",
      displayName: row.adapter_name,
      category: meta?.adapter_category ?? CATEGORY_FALLBACK[row.dataset] ?? "Other",
      task: meta?.dataset_description ?? "",
      description:
        `${meta?.dataset_description ?? row.adapter_name}: a LoRA adapter fine-tuned by Predibase from Mistral-7B-v0.1 ` +
        `on ${row.dataset}, one of the 27 adapters of LoRA Land.` +
        (meta ? "" : " Predibase's evaluation repository keeps no task metadata (prompt template) for it."),
      dataset: row.dataset,
      datasetLink: meta?.dataset_link ?? null,
      promptTemplate: meta?.prompt_template ?? null,
      inputColumns: meta ? meta.input_columns.split(",").map((c) => c.trim()).filter(Boolean) : [],
      targetColumn: meta?.target_col ?? null,
      sampleInputs: [],
      expectedOutputFormat: meta?.expected_output_format ?? null,
      metricName: row.metric,
      hfRepo: row.hf_adapter_repo || null,
      taskCard: null,
      note: row.note || null,
      sortOrder: i,
    });
    const figures: [ModelLabel, string][] = [
      ["fine_tuned", row.fine_tuned],
      ["gpt_4", row.gpt_4],
      ["gpt_35_turbo", row.gpt_35_turbo],
      ["mistral_7b_instruct", row.mistral_7b_instruct],
      ["base", row.mistral_7b],
    ];
    for (const [modelLabel, value] of figures) {
      if (value.trim() === "") continue;
      metricRows.push({
        adapterSlug: slug,
        modelLabel,
        source: "published",
        metricName: row.metric,
        value: Number(value),
        examples: 1000,
        measuredAt: PUBLISHED_AT,
        measuredBy: PUBLISHED_BY,
      });
    }
  });

  demo.forEach((t, i) => {
    const samples = readJsonl(path.join(/*turbopackIgnore: true*/ root, "data/demo/tasks", t.slug, "test.jsonl"), SAMPLE_ROWS).map((r) =>
      Object.fromEntries(t.input_columns.map((c) => [c, String(r[c] ?? "")])),
    );
    adapterRows.push({
      slug: t.slug,
      adapterId: t.slug,
      baseModelId: DEMO_BASE,
      collection: "runs-here",
      displayName: t.name,
      category: t.category,
      task: t.name.replace(/\s*\(.*\)$/, ""),
      description: t.description,
      dataset: t.source,
      datasetLink: null,
      promptTemplate: t.prompt_template,
      inputColumns: t.input_columns,
      targetColumn: t.output_column,
      sampleInputs: samples,
      // what the playground highlights: JSON for extraction, SQL for the text-to-SQL task
      expectedOutputFormat: t.metric === "json_match" ? "json" : t.slug === "sql" ? "sql" : "text",
      metricName: t.metric,
      hfRepo: null,
      taskCard: t.slug,
      note: `Train ${t.train_examples} / test ${t.test_examples} examples.`,
      sortOrder: 1000 + i,
    });
  });

  await db.transaction(async (tx) => {
    await tx
      .insert(baseModels)
      .values(baseRows)
      .onConflictDoUpdate({
        target: baseModels.id,
        set: { ...excluded(baseModels, ["displayName", "description", "hfRepo", "parameters"]), updatedAt: sql`now()` },
      });
    await tx
      .insert(adapters)
      .values(adapterRows)
      .onConflictDoUpdate({
        target: adapters.slug,
        set: {
          ...excluded(adapters, [
            "adapterId", "baseModelId", "collection", "displayName", "category", "task", "description",
            "dataset", "datasetLink", "promptTemplate", "inputColumns", "targetColumn", "sampleInputs",
            "expectedOutputFormat", "metricName", "hfRepo", "taskCard", "note", "sortOrder",
          ]),
          updatedAt: sql`now()`,
        },
      });
    await tx
      .insert(metrics)
      .values(metricRows)
      .onConflictDoUpdate({
        target: [metrics.adapterSlug, metrics.modelLabel, metrics.source],
        set: excluded(metrics, ["metricName", "value", "examples", "measuredAt", "measuredBy"]),
      });
  });
  return { baseModels: baseRows.length, adapters: adapterRows.length, publishedMetrics: metricRows.length };
}
