/**
 * LoRA training runs started from the web (/train, server/train/): the uploaded datasets, the runs
 * (queued → running → done | failed | cancelled, one running per web server), and each run's loss
 * curve, one row per optimizer step. A finished run's adapter is a `user` catalog adapter owned by
 * the run's owner; the catalog reads `adapter_slug` here to say it was trained here.
 */
import { index, integer, jsonb, pgTable, primaryKey, real, serial, text, timestamp } from "drizzle-orm/pg-core";
import type { DatasetStats } from "../../inference/train/dataset";

/** queued (waiting for the server's one training slot) → running → done | failed | cancelled */
export type TrainRunStatus = "queued" | "running" | "done" | "failed" | "cancelled";

/** Which dataset a run trains on: a demo task's train split, or an upload of its owner. */
export type TrainDatasetRef = { kind: "demo"; task: string } | { kind: "upload"; id: string };

/** The run's config in LoRA Land's (Ludwig's) shape, without the paths the server fills in. */
export interface TrainRunConfig {
  prompt_template: string;
  output_column: string;
  adapter: { r: number; alpha: number; dropout: number; target_modules: string[] | "all-linear" };
  trainer: {
    epochs: number;
    learning_rate: number;
    batch_size: number;
    gradient_accumulation: number;
    warmup_steps: number;
    weight_decay: number;
    max_grad_norm: number;
    max_length: number;
    validation_split: number;
    seed: number;
    checkpoint_every: number;
    max_examples?: number;
  };
}

/** The dataset's row accounting, as stored: the engine's own counts. */
export type TrainRowAccounting = DatasetStats;

export const trainDatasets = pgTable(
  "train_datasets",
  {
    /** random id (also its folder under DATA_DIR/train/datasets) */
    id: text("id").primaryKey(),
    ownerId: text("owner_id").notNull(),
    /** the uploaded file's name (its extension says the format: .csv/.jsonl, optionally .gz) */
    fileName: text("file_name").notNull(),
    bytes: integer("bytes").notNull(),
    /** rows read (JSONL lines / CSV records) and the columns seen in them */
    rows: integer("rows").notNull(),
    columns: jsonb("columns").$type<string[]>().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("train_datasets_owner_idx").on(t.ownerId, t.createdAt)],
);

export const trainRuns = pgTable(
  "train_runs",
  {
    id: serial("id").primaryKey(),
    /** who started it (may cancel it, owns the adapter); null = the admin without an owner cookie */
    ownerId: text("owner_id"),
    status: text("status").$type<TrainRunStatus>().notNull(),
    config: jsonb("config").$type<TrainRunConfig>().notNull(),
    dataset: jsonb("dataset").$type<TrainDatasetRef>().notNull(),
    /** a human label of the dataset ("sentiment train split", "reviews.csv") */
    datasetName: text("dataset_name").notNull(),
    /** the demo task whose test split evaluates the adapter (demo datasets); null = no eval */
    taskCard: text("task_card"),
    /** the row accounting of the whole dataset at start */
    rowAccounting: jsonb("row_accounting").$type<TrainRowAccounting>().notNull(),
    /** the base model served when it started (its /info model_id) */
    baseModelId: text("base_model_id").notNull(),
    /** the catalog slug (and worker adapter id) the adapter gets when done */
    adapterSlug: text("adapter_slug").notNull(),
    step: integer("step").notNull().default(0),
    totalSteps: integer("total_steps").notNull().default(0),
    epoch: real("epoch").notNull().default(0),
    trainLoss: real("train_loss"),
    valLoss: real("val_loss"),
    tokensPerS: real("tokens_per_s"),
    etaS: real("eta_s"),
    /** training seconds so far (over restarts) */
    seconds: real("seconds").notNull().default(0),
    error: text("error"),
    /** where the run's output and checkpoint live (DATA_DIR/train/runs/<id>) */
    checkpointDir: text("checkpoint_dir"),
    /** eval runs of the adapter (with the base model beside it) on the task's test split */
    evalRunIds: jsonb("eval_run_ids").$type<number[]>().notNull().default([]),
    /** a running run belongs to the server whose lease this is; an expired lease is resumed by another */
    leaseUntil: timestamp("lease_until", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp("started_at", { withTimezone: true }),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (t) => [index("train_runs_status_idx").on(t.status, t.id), index("train_runs_adapter_idx").on(t.adapterSlug)],
);

export const trainPoints = pgTable(
  "train_points",
  {
    runId: integer("run_id")
      .notNull()
      .references(() => trainRuns.id, { onDelete: "cascade" }),
    step: integer("step").notNull(),
    epoch: real("epoch").notNull(),
    trainLoss: real("train_loss").notNull(),
    /** at an epoch's end, when the run has a validation set */
    valLoss: real("val_loss"),
    lr: real("lr").notNull(),
    tokensPerS: real("tokens_per_s"),
  },
  (t) => [primaryKey({ columns: [t.runId, t.step] })],
);
