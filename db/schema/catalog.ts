/**
 * The adapter catalog: base models, adapters (task cards with their prompt templates), and
 * metrics from two sources kept apart — `published` (the LoRA Land table, by Predibase) and
 * `measured` (this project's own eval runs). Whether an adapter runs right now is NOT stored:
 * it is live state from the worker (server/routers/catalog.ts).
 */
import { index, integer, jsonb, pgTable, primaryKey, real, text, timestamp } from "drizzle-orm/pg-core";

/** Where a figure comes from. */
export type MetricSource = "published" | "measured";
/** Which model a figure is for; `base` is the adapter's own base model (Mistral-7B, loraland-mini). */
export type ModelLabel = "fine_tuned" | "gpt_4" | "gpt_35_turbo" | "mistral_7b_instruct" | "base";
/** `lora-land`: the 27 published adapters; `runs-here`: the bundled demo adapters; `user`: registered by a user. */
export type Collection = "lora-land" | "runs-here" | "user";

export const baseModels = pgTable("base_models", {
  /** the id a worker reports for it (`/info` model_id, `/v1/models`) */
  id: text("id").primaryKey(),
  displayName: text("display_name").notNull(),
  description: text("description").notNull().default(""),
  hfRepo: text("hf_repo"),
  parameters: text("parameters"),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export const adapters = pgTable(
  "adapters",
  {
    /** URL id: /adapters/<slug>, /playground?adapter=<slug> */
    slug: text("slug").primaryKey(),
    /** the id the worker serves it under (LoRAX adapter_id / OpenAI model): a folder name or an HF repo */
    adapterId: text("adapter_id").notNull(),
    baseModelId: text("base_model_id")
      .notNull()
      .references(() => baseModels.id),
    collection: text("collection").$type<Collection>().notNull(),
    displayName: text("display_name").notNull(),
    category: text("category").notNull(),
    /** short task label, e.g. "Named entity recognition" */
    task: text("task").notNull().default(""),
    description: text("description").notNull().default(""),
    dataset: text("dataset").notNull().default(""),
    datasetLink: text("dataset_link"),
    /** completion-style prompt: `{column}` placeholders, `{{`/`}}` literal braces */
    promptTemplate: text("prompt_template"),
    inputColumns: jsonb("input_columns").$type<string[]>().notNull().default([]),
    targetColumn: text("target_column"),
    /** a few example rows (column → value), shown as one-click samples */
    sampleInputs: jsonb("sample_inputs").$type<Record<string, string>[]>().notNull().default([]),
    expectedOutputFormat: text("expected_output_format"),
    metricName: text("metric_name").notNull(),
    hfRepo: text("hf_repo"),
    /** the task card (data/demo/tasks) it is evaluated on: its own for bundled adapters, the one chosen at upload for user ones */
    taskCard: text("task_card"),
    /** the owner (browser) that uploaded or registered it; null for bundled/published adapters and admin registrations */
    ownerId: text("owner_id"),
    note: text("note"),
    sortOrder: integer("sort_order").notNull().default(0),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("adapters_base_model_idx").on(t.baseModelId), index("adapters_collection_idx").on(t.collection)],
);

/** The current figure per (adapter, model, source). Eval history lives with the eval runs. */
export const metrics = pgTable(
  "metrics",
  {
    adapterSlug: text("adapter_slug")
      .notNull()
      .references(() => adapters.slug, { onDelete: "cascade" }),
    modelLabel: text("model_label").$type<ModelLabel>().notNull(),
    source: text("source").$type<MetricSource>().notNull(),
    metricName: text("metric_name").notNull(),
    /** 0..1 (a 0 is a real score: no output matched the expected format) */
    value: real("value").notNull(),
    /** number of examples scored, when known */
    examples: integer("examples"),
    measuredAt: timestamp("measured_at", { withTimezone: true }).notNull(),
    /** who or what produced it: "Predibase, LoRA Land (Feb 2024)", "eval run <id>" */
    measuredBy: text("measured_by").notNull(),
  },
  (t) => [primaryKey({ columns: [t.adapterSlug, t.modelLabel, t.source] })],
);
