/** Eval runs: results and examples per adapter, starting a run with live progress, CLI ingest. */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { getCatalogAdapter } from "../db-queries/catalog";
import { getEvalRun, ingestEvalRun, listAdapterResults, listEvalExamples, listEvalRuns } from "../db-queries/evals";
import { inferenceUrl } from "../env";
import { ingestRunSchema } from "../eval/ingest";
import { EvalBusyError, runningWebRun, startWebRun, watchRun } from "../eval/run-manager";
import { loadTaskCards, loadTestExamples } from "../eval/tasks";
import { assertSameOrigin, createTRPCRouter, mutationProcedure, publicProcedure } from "../trpc";

const slug = z.string().min(1, "slug is required").max(200, "slug is too long");

async function workerModelId(url: string): Promise<string | null> {
  try {
    const res = await fetch(`${url}/info`, { signal: AbortSignal.timeout(3000) });
    const info = (await res.json()) as { model_id?: unknown };
    return typeof info.model_id === "string" ? info.model_id : null;
  } catch {
    return null;
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
      const taskSlug = input.task ?? input.slug;
      const card = loadTaskCards().find((c) => c.slug === taskSlug);
      if (!card) throw new TRPCError({ code: "BAD_REQUEST", message: `task: no task card "${taskSlug}"; pick one of ${loadTaskCards().map((c) => c.slug).join(", ")}` });
      const url = inferenceUrl(ctx.env);
      const modelId = await workerModelId(url);
      if (!modelId) throw new TRPCError({ code: "PRECONDITION_FAILED", message: `the worker at ${url} is not answering: start it, then run the eval` });
      if (modelId !== adapter.baseModelId) {
        throw new TRPCError({ code: "PRECONDITION_FAILED", message: `"${adapter.slug}" is an adapter of ${adapter.baseModelId}; the worker serves ${modelId}` });
      }
      try {
        const runId = await startWebRun({
          db: ctx.db,
          endpoint: { url, protocol: ctx.env.INFERENCE_PROTOCOL, baseModelId: modelId },
          modelId,
          tasks: [{ slug: adapter.slug, card, adapterId: adapter.adapterId, examples: loadTestExamples(card, { limit: input.limit ?? undefined }) }],
          exampleLimit: input.limit,
          concurrency: input.concurrency,
        });
        return { runId };
      } catch (err) {
        if (err instanceof EvalBusyError) throw new TRPCError({ code: "CONFLICT", message: err.message });
        throw err;
      }
    }),

  /** live progress of a run until it is done or failed */
  progress: publicProcedure.input(z.object({ runId: z.number().int().min(1) })).subscription(async function* ({ ctx, input, signal }) {
    yield* watchRun(ctx.db, input.runId, signal);
  }),

  /** a finished command-line run handed over to the app that owns the database */
  ingest: publicProcedure.input(ingestRunSchema).mutation(async ({ ctx, input }) => {
    assertSameOrigin(ctx.headers);
    const run = await ingestEvalRun(ctx.db, { origin: "cli", ...input });
    return { id: run.id };
  }),
});
