/**
 * Eval runs of the harness (server/eval/): a run evaluates some adapters on their task's test
 * split next to the base model; each adapter's outcome is an `eval_results` row and each test row
 * an `eval_examples` row. A finished run also writes the catalog's `measured` metrics.
 */
import { boolean, index, integer, jsonb, pgTable, real, serial, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

/** running → done | failed | cancelled (by its owner or the admin; the examples done are kept, never a headline) */
export type EvalRunStatus = "running" | "done" | "failed" | "cancelled";
/** where a run was started: the command line (`npm run eval`) or the web page */
export type EvalRunOrigin = "cli" | "web";

/** Examples/s with all adapters in flight vs one adapter at a time (same prompts, C in flight). */
export interface EvalThroughput {
  perAdapter: number;
  adapters: number;
  concurrency: number;
  concurrentExamplesPerSecond: number;
  sequentialExamplesPerSecond: number;
}

export const evalRuns = pgTable(
  "eval_runs",
  {
    id: serial("id").primaryKey(),
    status: text("status").$type<EvalRunStatus>().notNull(),
    origin: text("origin").$type<EvalRunOrigin>().notNull(),
    /** the owner who started a web run (may cancel it); null for command-line runs */
    ownerId: text("owner_id"),
    /** the base model the worker served (its /info model_id), e.g. loraland-mini */
    modelId: text("model_id").notNull(),
    workerUrl: text("worker_url").notNull(),
    protocol: text("protocol").notNull(),
    /** the task slugs evaluated, in order */
    adapters: jsonb("adapters").$type<string[]>().notNull(),
    /** first N rows of each split; null = the full split */
    exampleLimit: integer("example_limit"),
    concurrency: integer("concurrency").notNull(),
    /** requests done / planned (fine-tuned + base), for live progress */
    done: integer("done").notNull().default(0),
    total: integer("total").notNull().default(0),
    wallMs: real("wall_ms"),
    requestsPerSecond: real("requests_per_second"),
    throughput: jsonb("throughput").$type<EvalThroughput>(),
    error: text("error"),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (t) => [index("eval_runs_started_idx").on(t.startedAt)],
);

export const evalResults = pgTable(
  "eval_results",
  {
    id: serial("id").primaryKey(),
    runId: integer("run_id")
      .notNull()
      .references(() => evalRuns.id, { onDelete: "cascade" }),
    /** the catalog slug / task card slug */
    adapterSlug: text("adapter_slug").notNull(),
    /** the worker's adapter id that served it */
    adapterId: text("adapter_id").notNull(),
    metric: text("metric").notNull(),
    /** mean score of the fine-tuned adapter, 0..1 */
    score: real("score").notNull(),
    /** mean score of the base model on the same prompts; null when not run */
    baseScore: real("base_score"),
    n: integer("n").notNull(),
  },
  (t) => [uniqueIndex("eval_results_run_adapter_idx").on(t.runId, t.adapterSlug), index("eval_results_adapter_idx").on(t.adapterSlug)],
);

export const evalExamples = pgTable(
  "eval_examples",
  {
    id: serial("id").primaryKey(),
    resultId: integer("result_id")
      .notNull()
      .references(() => evalResults.id, { onDelete: "cascade" }),
    /** row number in the test split */
    rowIndex: integer("row_index").notNull(),
    /** the row's input columns */
    inputs: jsonb("inputs").$type<Record<string, string>>().notNull(),
    reference: text("reference").notNull(),
    prediction: text("prediction").notNull(),
    basePrediction: text("base_prediction"),
    score: real("score").notNull(),
    baseScore: real("base_score"),
    /** score 1 (ROUGE-L: at least 0.5) */
    correct: boolean("correct").notNull(),
    baseCorrect: boolean("base_correct"),
    latencyMs: real("latency_ms").notNull(),
    baseLatencyMs: real("base_latency_ms"),
  },
  (t) => [uniqueIndex("eval_examples_result_row_idx").on(t.resultId, t.rowIndex)],
);
