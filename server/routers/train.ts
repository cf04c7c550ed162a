/**
 * LoRA training from the web (/train): datasets (the demo tasks' train splits, and the caller's
 * uploads through POST /api/train/datasets), a preview with the row accounting, starting a run
 * (any owner; one trains at a time per server, the others queue visibly), cancelling it (its
 * owner or the admin), and its live progress (a subscription). Runs are executed by
 * server/train/manager.ts off the web server's event loop (a child process).
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { z } from "zod";
import { PROJECTIONS } from "../../inference/adapters/lora-weights";
import { ADAPTER_ID } from "../../app/api/adapters/peft-upload";
import { adapterSlugTaken } from "../db-queries/evals";
import { createTrainRun, getTrainRun, listTrainDatasets, listTrainPoints, listTrainRuns, queuedRunIds, adapterSlugReserved, removeTrainDataset, getTrainDataset, openRunsOnDataset, openRunCounts } from "../db-queries/train";
import { inferenceUrl } from "../env";
import { LoraLandError } from "../errors";
import { servedModelId, WorkerError } from "../inference/client";
import { assertSameOrigin, createTRPCRouter, mutationProcedure, publicProcedure } from "../trpc";
import { datasetsDir, demoDatasets, MAX_DATASET_BYTES, resolveDataset } from "../train/datasets";
import { previewOffLoop } from "../train/helper";
import { getTrainManager, watchTrainRun } from "../train/manager";
import { buildRunConfig, defaultRunConfig, plannedSteps } from "../train/plan";
import { pointView, runView } from "../train/view";
import { TrainDataError } from "../../inference/train/dataset";
import fs from "node:fs/promises";

/** queued + running runs one owner may have, and everyone together */
export const MAX_OPEN_RUNS_PER_OWNER = 3;
export const MAX_OPEN_RUNS = 50;

/** a row id (int4 columns: a larger number is a 400 naming the field, not a database error) */
const dbId = z.number().int("must be an integer").min(1, "must be ≥ 1").max(2_147_483_647, "must be ≤ 2147483647");

const datasetRef = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("demo"), task: z.string().min(1, "task is required").max(100, "task is too long") }),
  z.object({ kind: z.literal("upload"), id: z.string().regex(/^[a-z0-9]{8,64}$/, "not a dataset id") }),
]);

/** The served base model's id; a run needs the worker (its adapter is registered there at the end). */
async function workerModelId(url: string, protocol: "lorax" | "openai"): Promise<string> {
  try {
    return await servedModelId(url, protocol);
  } catch (err) {
    if (!(err instanceof WorkerError)) throw err;
    throw new LoraLandError("PRECONDITION_FAILED", `${err.message}: start it, then start training`, { cause: err });
  }
}

/** A dataset problem (unreadable file, unknown format) as a 400 naming the field. */
function asBadDataset(err: unknown): never {
  if (err instanceof TrainDataError) throw new LoraLandError("BAD_REQUEST", `dataset: ${err.message}`, { cause: err });
  throw err;
}

export const trainRouter = createTRPCRouter({
  /** what the form starts from: the engine's defaults, the projections, the upload limit, the served base */
  options: publicProcedure.query(async ({ ctx }) => {
    let baseModelId: string | null = null;
    try {
      baseModelId = await servedModelId(inferenceUrl(ctx.env), ctx.env.INFERENCE_PROTOCOL);
    } catch {
      baseModelId = null;
    }
    return {
      baseModelId,
      /** training needs the base model's weights on this machine (the built-in worker's MODEL_DIR) */
      canTrain: !ctx.env.INFERENCE_URL,
      defaults: defaultRunConfig(),
      targetModules: [...PROJECTIONS],
      maxUploadBytes: MAX_DATASET_BYTES,
    };
  }),

  /** one-click demo datasets (train splits) and the caller's uploads */
  datasets: publicProcedure.query(async ({ ctx }) => ({
    demo: demoDatasets(),
    uploads: ctx.ownerId || ctx.admin ? (await listTrainDatasets(ctx.db, { ownerId: ctx.admin && !ctx.ownerId ? null : ctx.ownerId })).map(({ ownerId: _o, ...d }) => (void _o, d)) : [],
  })),

  /** the first rows rendered with the template, token counts, and the whole file's row accounting */
  preview: publicProcedure
    .input(
      z.object({
        dataset: datasetRef,
        /** default: the demo task's template (required for uploads) */
        promptTemplate: z.string().min(1, "promptTemplate is empty").max(20_000, "promptTemplate is too long").optional(),
        outputColumn: z.string().min(1, "outputColumn is empty").max(200, "outputColumn is too long").optional(),
        maxLength: z.number().int("must be an integer").min(2, "must be ≥ 2").max(32_768, "must be ≤ 32768").default(512),
        limit: z.number().int().min(1).max(50).default(5),
      }),
    )
    .query(async ({ ctx, input }) => {
      // tokenizing a whole file is real work: owners (and the admin) only, like starting a run
      if (!ctx.ownerId && !ctx.admin) throw new LoraLandError("UNAUTHORIZED", "missing owner cookie: reload the page");
      const ds = await resolveDataset(ctx.db, input.dataset, ctx, { dataDir: ctx.env.DATA_DIR });
      const promptTemplate = input.promptTemplate ?? ds.card?.prompt_template;
      if (!promptTemplate) throw new LoraLandError("BAD_REQUEST", "promptTemplate: required for an uploaded dataset ({column} placeholders)");
      const outputColumn = input.outputColumn ?? ds.card?.output_column ?? "output";
      // the template's own errors (a bad brace) name the field, as start's do
      buildRunConfig({ prompt_template: promptTemplate, output_column: outputColumn }, { modelDir: ctx.env.MODEL_DIR, datasetFile: ds.file, outputDir: "/tmp" }, null);
      const preview = await previewOffLoop({ file: ds.file, modelDir: ctx.env.MODEL_DIR, promptTemplate, outputColumn, maxLength: input.maxLength }, input.limit).catch(asBadDataset);
      return { datasetName: ds.name, promptTemplate, outputColumn, ...preview };
    }),

  /**
   * Queue a run (any owner). `config` holds LoRA Land's keys (prompt_template, output_column,
   * adapter: {r, alpha, dropout, target_modules}, trainer: {epochs, learning_rate, batch_size, ...});
   * a demo dataset fills in its card's template and output column. `name` is the adapter's catalog
   * slug (default: derived from the dataset). A dataset with no usable row is refused naming why.
   */
  start: mutationProcedure
    .input(
      z.object({
        dataset: datasetRef,
        name: z.string().regex(ADAPTER_ID, "1-64 characters, lowercase letters, digits, '.', '_' or '-', starting with a letter or digit").optional(),
        config: z.record(z.string(), z.unknown()).default({}),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      if (ctx.env.INFERENCE_URL) throw new LoraLandError("PRECONDITION_FAILED", "training needs the base model's weights on this machine: it runs with the built-in worker only (INFERENCE_URL is set)");
      // npm start's MODEL_REPO: the worker serves a Hub model, training would use MODEL_DIR's
      if (process.env.MODEL_REPO?.trim()) throw new LoraLandError("PRECONDITION_FAILED", "training uses MODEL_DIR's weights, but the worker serves MODEL_REPO: unset MODEL_REPO and point MODEL_DIR at that model to train on it");
      // one machine trains them one by one: an owner may hold a few places in the queue, not all of it
      const open = await openRunCounts(ctx.db, { ownerId: ctx.ownerId });
      if (open.mine >= MAX_OPEN_RUNS_PER_OWNER) throw new LoraLandError("TOO_MANY_REQUESTS", `you already have ${open.mine} training runs queued or running (at most ${MAX_OPEN_RUNS_PER_OWNER}): wait for one to finish or cancel one`, { retryAfterS: 60 });
      if (open.all >= MAX_OPEN_RUNS) throw new LoraLandError("TOO_MANY_REQUESTS", `${open.all} training runs are queued or running on this server (at most ${MAX_OPEN_RUNS}): try again later`, { retryAfterS: 60 });
      const ds = await resolveDataset(ctx.db, input.dataset, ctx, { dataDir: ctx.env.DATA_DIR });
      const { stored } = buildRunConfig(input.config, { modelDir: ctx.env.MODEL_DIR, datasetFile: ds.file, outputDir: "/tmp/loraland-train-check" }, ds.card);
      const preview = await previewOffLoop({ file: ds.file, modelDir: ctx.env.MODEL_DIR, promptTemplate: stored.prompt_template, outputColumn: stored.output_column, maxLength: stored.trainer.max_length }, 0).catch(asBadDataset);
      if (preview.problem) throw new LoraLandError("BAD_REQUEST", `dataset: ${preview.problem}`);
      const totalSteps = plannedSteps(preview.accounting.usable, stored.trainer);
      if (totalSteps === 0) throw new LoraLandError("BAD_REQUEST", `config.trainer.validation_split: ${stored.trainer.validation_split} leaves no training rows out of ${preview.accounting.usable}`);
      const stem = (ds.card?.slug ?? path.basename(ds.name).replace(/\.(csv|jsonl|json|ndjson)(\.gz)?$/i, "")).toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[^a-z0-9]+/, "").slice(0, 40) || "adapter";
      const slug = input.name ?? `${stem}-lora-${randomBytes(3).toString("hex")}`;
      if (slug === "base" || (await adapterSlugTaken(ctx.db, { slug })) || (await adapterSlugReserved(ctx.db, { slug }))) {
        throw new LoraLandError("CONFLICT", `name: an adapter "${slug}" is already in the catalog or being trained: pick another name`);
      }
      const baseModelId = await workerModelId(inferenceUrl(ctx.env), ctx.env.INFERENCE_PROTOCOL);
      const row = await createTrainRun(ctx.db, {
        ownerId: ctx.ownerId,
        config: stored,
        dataset: input.dataset,
        datasetName: ds.name,
        // the harness evaluates with the card's template: a run trained on another one is not scored by it
        taskCard: ds.card && stored.prompt_template === ds.card.prompt_template && stored.output_column === ds.card.output_column ? ds.card.slug : null,
        rowAccounting: preview.accounting,
        baseModelId,
        adapterSlug: slug,
        totalSteps,
      });
      getTrainManager(ctx.db, ctx.env).pump();
      const now = (await getTrainRun(ctx.db, { id: row.id }))!;
      return runView(now, ctx, await queuedRunIds(ctx.db));
    }),

  /** runs, newest first (`mine`: the caller's only), with the running one and the queue */
  runs: publicProcedure
    .input(z.object({ limit: z.number().int().min(1).max(200).default(50), mine: z.boolean().default(false) }).optional())
    .query(async ({ ctx, input }) => {
      if (input?.mine && !ctx.ownerId) return { runs: [], runningId: null, queued: 0 };
      const [rows, queue, running] = await Promise.all([
        listTrainRuns(ctx.db, { limit: input?.limit ?? 50, ownerId: input?.mine ? ctx.ownerId! : undefined }),
        queuedRunIds(ctx.db),
        listTrainRuns(ctx.db, { limit: 1, status: "running" }),
      ]);
      return { runs: rows.map((r) => runView(r, ctx, queue)), runningId: running[0]?.id ?? null, queued: queue.length };
    }),

  /** one run and its whole curve */
  run: publicProcedure.input(z.object({ id: dbId })).query(async ({ ctx, input }) => {
    const row = await getTrainRun(ctx.db, input);
    if (!row) throw new LoraLandError("NOT_FOUND", `id: no training run #${input.id}`);
    const [queue, points] = await Promise.all([queuedRunIds(ctx.db), listTrainPoints(ctx.db, { id: row.id })]);
    return { run: runView(row, ctx, queue), points: points.map(pointView) };
  }),

  /** cancel a queued or running run (its owner or the admin, same-origin); resolves once it is cancelled */
  cancel: publicProcedure.input(z.object({ runId: dbId })).mutation(async ({ ctx, input }) => {
    assertSameOrigin(ctx.headers);
    if (!ctx.ownerId && !ctx.admin) throw new LoraLandError("UNAUTHORIZED", "missing owner cookie: reload the page");
    const row = await getTrainRun(ctx.db, { id: input.runId });
    if (!row) throw new LoraLandError("NOT_FOUND", `runId: no training run #${input.runId}`);
    if (!ctx.admin && (row.ownerId === null || row.ownerId !== ctx.ownerId)) {
      throw new LoraLandError("FORBIDDEN", `runId: training run #${input.runId} was started by someone else; only they or the admin may cancel it`);
    }
    if (!(await getTrainManager(ctx.db, ctx.env).cancel(row.id))) {
      const now = await getTrainRun(ctx.db, { id: row.id });
      throw new LoraLandError("CONFLICT", `runId: training run #${row.id} is ${now?.status ?? row.status}, not queued or running`);
    }
    return runView((await getTrainRun(ctx.db, { id: row.id }))!, ctx, await queuedRunIds(ctx.db));
  }),

  /** remove one of the caller's uploaded datasets (not while a queued or running run uses it; finished runs keep their record) */
  deleteDataset: mutationProcedure.input(z.object({ id: z.string().regex(/^[a-z0-9]{8,64}$/, "not a dataset id") })).mutation(async ({ ctx, input }) => {
    const row = await getTrainDataset(ctx.db, input);
    if (!row || (!ctx.admin && row.ownerId !== ctx.ownerId)) throw new LoraLandError("NOT_FOUND", `id: no uploaded dataset "${input.id}" of yours`);
    const open = await openRunsOnDataset(ctx.db, input);
    if (open.length) throw new LoraLandError("CONFLICT", `id: training run${open.length > 1 ? "s" : ""} ${open.map((n) => `#${n}`).join(", ")} still use${open.length > 1 ? "" : "s"} this dataset: cancel ${open.length > 1 ? "them" : "it"} or wait until done`);
    await removeTrainDataset(ctx.db, input);
    await fs.rm(path.join(datasetsDir(ctx.env.DATA_DIR), row.id), { recursive: true, force: true });
    return { id: row.id, removed: true };
  }),

  /**
   * Live state of a run until it ends: the run (step, losses, tokens/s, ETA, queue position,
   * status) and the curve points after `afterStep` (the first event: all of them after it).
   */
  progress: publicProcedure.input(z.object({ runId: dbId, afterStep: z.number().int().min(0).default(0) })).subscription(async function* ({ ctx, input, signal }) {
    yield* watchTrainRun(ctx.db, input.runId, ctx, { afterStep: input.afterStep, signal });
  }),
});
