/** Eval runs: results and examples per adapter, starting a run with live progress, CLI ingest. */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { getCatalogAdapter } from "../db-queries/catalog";
import { getEvalResult, getEvalRun, ingestEvalRun, listAdapterResults, listEvalExamples, listEvalRuns, setHeadlineResult } from "../db-queries/evals";
import { inferenceUrl } from "../env";
import { LoraLandError } from "../errors";
import { adapterCard, isFullRun } from "../eval/headline";
import { checkIngestRun, ingestRunSchema } from "../eval/ingest";
import { runningWebRun, startWebRun, watchRun } from "../eval/run-manager";
import { loadTaskCards, loadTestExamples } from "../eval/tasks";
import { servedModelId, WorkerError } from "../inference/client";
import { adminMutationProcedure, createTRPCRouter, mutationProcedure, publicProcedure } from "../trpc";
import { generateLimits } from "./generate";

const slug = z.string().min(1, "slug is required").max(200, "slug is too long");

/** The worker's base model; an eval cannot start without one (a precondition, whatever the worker's failure). */
async function workerModelId(url: string, protocol: "lorax" | "openai"): Promise<string> {
  try {
    return await servedModelId(url, protocol);
  } catch (err) {
    if (!(err instanceof WorkerError)) throw err;
    throw new LoraLandError("PRECONDITION_FAILED", `${err.message}: start it, then run the eval`, { cause: err });
  }
}

export const evalRouter = createTRPCRouter({
  /** the task cards an adapter can be evaluated on */
  tasks: publicProcedure.query(() => loadTaskCards().map(({ slug, name, metric, test_examples }) => ({ slug, name, metric, testExamples: test_examples ?? null }))),

  runs: publicProcedure.input(z.object({ limit: z.number().int().min(1).max(200).default(50) }).optional()).query(({ ctx, input }) => listEvalRuns(ctx.db, { limit: input?.limit })),

  run: publicProcedure.input(z.object({ id: z.number().int().min(1) })).query(async ({ ctx, input }) => {
    const run = await getEvalRun(ctx.db, input);
    if (!run) throw new TRPCError({ code: "NOT_FOUND", message: `no eval run #${input.id}` });
    return run;
  }),

  /** an adapter's finished results, newest first, plus the web run in progress if any */
  results: publicProcedure.input(z.object({ slug })).query(async ({ ctx, input }) => ({
    results: await listAdapterResults(ctx.db, { slug: input.slug }),
    runningRunId: runningWebRun(),
  })),

  examples: publicProcedure
    .input(
      z.object({
        resultId: z.number().int().min(1),
        filter: z.enum(["all", "right", "wrong"]).default("all"),
        offset: z.number().int().min(0).default(0),
        limit: z.number().int().min(1).max(100).default(20),
      }),
    )
    .query(({ ctx, input }) => listEvalExamples(ctx.db, input)),

  /** start a run of one adapter (and the base model) on a task's test split */
  start: mutationProcedure
    .input(
      z.object({
        slug,
        /** the task card to evaluate on; default: the adapter's own (same slug) */
        task: slug.optional(),
        limit: z.number().int().min(1, "limit must be at least 1").max(100_000).nullable().default(20),
        concurrency: z.number().int().min(1).max(64).default(16),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const adapter = await getCatalogAdapter(ctx.db, { slug: input.slug });
      if (!adapter) throw new TRPCError({ code: "NOT_FOUND", message: `no adapter with slug "${input.slug}"` });
      // its own card only: a run of another task would stand for this adapter's score
      const card = adapterCard(adapter);
      if (!card) throw new TRPCError({ code: "BAD_REQUEST", message: `slug: "${adapter.slug}" has no task card, so it cannot be evaluated here` });
      if (input.task !== undefined && input.task !== card.slug) {
        throw new TRPCError({ code: "BAD_REQUEST", message: `task: "${adapter.slug}" is evaluated on its own task "${card.slug}", not "${input.task}"` });
      }
      const url = inferenceUrl(ctx.env);
      const modelId = await workerModelId(url, ctx.env.INFERENCE_PROTOCOL);
      if (modelId !== adapter.baseModelId) {
        throw new TRPCError({ code: "PRECONDITION_FAILED", message: `"${adapter.slug}" is an adapter of ${adapter.baseModelId}; the worker serves ${modelId}` });
      }
      // an eval start counts against the owner's and the address's request limits (no stream held)
      generateLimits().admit(ctx.ownerId, 0, ctx.clientAddress);
      const runId = await startWebRun({
        db: ctx.db,
        endpoint: { url, protocol: ctx.env.INFERENCE_PROTOCOL, baseModelId: modelId },
        modelId,
        tasks: [{ slug: adapter.slug, card, adapterId: adapter.adapterId, examples: loadTestExamples(card, { limit: input.limit ?? undefined }) }],
        exampleLimit: input.limit,
        concurrency: input.concurrency,
        // the admin's full run becomes the headline; anyone else's waits for the admin to pick it
        headline: ctx.admin === true && input.limit === null,
      });
      return { runId };
    }),

  /** live progress of a run until it is done or failed */
  progress: publicProcedure.input(z.object({ runId: z.number().int().min(1) })).subscription(async function* ({ ctx, input, signal }) {
    yield* watchRun(ctx.db, input.runId, signal);
  }),

  /** a finished command-line run handed over to the app that owns the database (admin only) */
  ingest: adminMutationProcedure.input(ingestRunSchema).mutation(async ({ ctx, input }) => {
    const headline = await checkIngestRun(ctx.db, input);
    const run = await ingestEvalRun(ctx.db, { origin: "cli", ...input, headline });
    return { id: run.id, headline };
  }),

  /** the admin picks which full-test-split result is the adapter's headline figure */
  setHeadline: adminMutationProcedure.input(z.object({ resultId: z.number().int().min(1) })).mutation(async ({ ctx, input }) => {
    const found = await getEvalResult(ctx.db, { id: input.resultId });
    if (!found || found.run.status !== "done") throw new TRPCError({ code: "NOT_FOUND", message: `resultId: no finished eval result #${input.resultId}` });
    const adapter = await getCatalogAdapter(ctx.db, { slug: found.result.adapterSlug });
    if (!adapter) throw new TRPCError({ code: "NOT_FOUND", message: `resultId: its adapter "${found.result.adapterSlug}" is no longer in the catalog` });
    const card = adapterCard(adapter);
    if (!card || found.result.metric !== card.metric || !isFullRun(found.run, found.result, card)) {
      throw new TRPCError({ code: "BAD_REQUEST", message: `resultId: #${input.resultId} is not a run over the full test split of "${adapter.slug}"'s task (n=${found.result.n}); only a full run can be the headline` });
    }
    await setHeadlineResult(ctx.db, found);
    return { slug: adapter.slug, n: found.result.n };
  }),
});
