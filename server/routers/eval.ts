/** Eval runs: results and examples per adapter, starting a run with live progress, CLI ingest. */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { getCatalogAdapter } from "../db-queries/catalog";
import { getEvalResult, getEvalRun, ingestEvalRun, listAdapterResults, listEvalExamples, listEvalRuns, pairedExamples, setHeadlineResult } from "../db-queries/evals";
import { inferenceUrl } from "../env";
import { LoraLandError } from "../errors";
import { pairedBootstrap } from "../eval/bootstrap";
import { adapterCard, isFullRun } from "../eval/headline";
import { resultIntervals } from "../eval/result-intervals";
import { checkIngestRun, ingestRunSchema } from "../eval/ingest";
import { cancelWebRun, runningWebRun, startWebRun, watchRun } from "../eval/run-manager";
import { loadTaskCards, loadTestExamples } from "../eval/tasks";
import { servedModelId, WorkerError } from "../inference/client";
import { adminMutationProcedure, assertSameOrigin, createTRPCRouter, mutationProcedure, publicProcedure } from "../trpc";
import { generateLimits } from "./generate";

/** A run as anyone may see it: who started it stays on the server (it decides who may cancel). */
function withoutOwner<T extends { ownerId: string | null }>(run: T): Omit<T, "ownerId"> {
  const copy: Partial<T> = { ...run };
  delete copy.ownerId;
  return copy as Omit<T, "ownerId">;
}

const slug = z.string().min(1, "slug is required").max(200, "slug is too long");
/** a row id (int4 columns: a larger number is a 400 naming the field, not a database error) */
const dbId = z.number().int("must be an integer").min(1, "must be ≥ 1").max(2_147_483_647, "must be ≤ 2147483647");

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

  // owner ids stay on the server (they are who may cancel, not for anyone to see)
  runs: publicProcedure
    .input(z.object({ limit: z.number().int().min(1).max(200).default(50) }).optional())
    .query(async ({ ctx, input }) => (await listEvalRuns(ctx.db, { limit: input?.limit })).map(withoutOwner)),

  run: publicProcedure.input(z.object({ id: dbId })).query(async ({ ctx, input }) => {
    const run = await getEvalRun(ctx.db, input);
    if (!run) throw new TRPCError({ code: "NOT_FOUND", message: `no eval run #${input.id}` });
    return withoutOwner(run);
  }),

  /**
   * An adapter's finished (and cancelled) results, newest first, each score with its 95% bootstrap
   * interval (1000 resamples of the per-example scores, seeded by the result id), plus the web run
   * in progress if any and whether the caller may cancel it.
   */
  results: publicProcedure.input(z.object({ slug })).query(async ({ ctx, input }) => {
    const results = await listAdapterResults(ctx.db, { slug: input.slug });
    // the catalog's measured figures show the same intervals (server/eval/result-intervals.ts)
    const intervals = await resultIntervals(ctx.db, results.map((r) => r.id));
    const runningRunId = runningWebRun();
    const running = runningRunId === null ? null : await getEvalRun(ctx.db, { id: runningRunId });
    return {
      results: results.map(({ run: { ownerId, ...run }, ...r }) => ({ ...r, run, ...intervals.get(r.id)!, mine: ownerId !== null && ownerId === ctx.ownerId })),
      runningRunId,
      /** may the caller cancel the running run (its owner, or the admin)? */
      canCancel: running !== null && (ctx.admin === true || (running.ownerId !== null && running.ownerId === ctx.ownerId)),
    };
  }),

  /**
   * Two results of one adapter side by side, example by example (on the rows both scored): which
   * went from wrong to right (`fixed`) or right to wrong (`broke`), and the score difference b - a
   * with its paired 95% bootstrap interval.
   */
  compare: publicProcedure
    .input(z.object({ a: dbId, b: dbId, changedOnly: z.boolean().default(true), limit: z.number().int().min(1).max(500).default(100) }))
    .query(async ({ ctx, input }) => {
      const [ra, rb] = await Promise.all([getEvalResult(ctx.db, { id: input.a }), getEvalResult(ctx.db, { id: input.b })]);
      if (!ra) throw new LoraLandError("NOT_FOUND", `a: no eval result #${input.a}`);
      if (!rb) throw new LoraLandError("NOT_FOUND", `b: no eval result #${input.b}`);
      if (ra.result.adapterSlug !== rb.result.adapterSlug || ra.result.metric !== rb.result.metric) {
        throw new LoraLandError("BAD_REQUEST", `b: #${input.b} is a result of "${rb.result.adapterSlug}" (${rb.result.metric}), #${input.a} of "${ra.result.adapterSlug}" (${ra.result.metric}): compare results of one adapter`);
      }
      const pairs = await pairedExamples(ctx.db, { a: input.a, b: input.b });
      const change = (p: (typeof pairs)[number]) => (p.a.correct === p.b.correct ? "same" : p.b.correct ? "fixed" : "broke");
      const rows = pairs.map((p) => ({ rowIndex: p.a.rowIndex, inputs: p.a.inputs, reference: p.a.reference, a: { prediction: p.a.prediction, score: p.a.score, correct: p.a.correct }, b: { prediction: p.b.prediction, score: p.b.score, correct: p.b.correct }, change: change(p) }));
      const delta = pairedBootstrap(pairs.map((p) => p.b.score), pairs.map((p) => p.a.score), { seed: input.a * 100_003 + input.b });
      return {
        a: { resultId: input.a, runId: ra.run.id, score: ra.result.score, n: ra.result.n },
        b: { resultId: input.b, runId: rb.run.id, score: rb.result.score, n: rb.result.n },
        metric: ra.result.metric,
        /** rows both scored */
        common: pairs.length,
        fixed: rows.filter((r) => r.change === "fixed").length,
        broke: rows.filter((r) => r.change === "broke").length,
        /** mean(b) - mean(a) on the common rows, with its interval; null when none are common */
        delta,
        rows: rows.filter((r) => !input.changedOnly || r.change !== "same").slice(0, input.limit),
      };
    }),

  /**
   * Cancel a running run (its owner, or the admin): no more requests are sent, the examples answered
   * so far are kept, and the run is marked cancelled (never a headline). Resolves once it is.
   */
  cancel: publicProcedure.input(z.object({ runId: dbId })).mutation(async ({ ctx, input }) => {
    assertSameOrigin(ctx.headers);
    const run = await getEvalRun(ctx.db, { id: input.runId });
    if (!run) throw new LoraLandError("NOT_FOUND", `runId: no eval run #${input.runId}`);
    if (!ctx.admin && (run.ownerId === null || run.ownerId !== ctx.ownerId)) {
      throw new LoraLandError("FORBIDDEN", `runId: eval run #${input.runId} was started by someone else; only they or the admin may cancel it`);
    }
    if (run.status !== "running" || !(await cancelWebRun(ctx.db, run.id))) {
      const now = await getEvalRun(ctx.db, { id: input.runId });
      throw new LoraLandError("CONFLICT", `runId: eval run #${input.runId} is ${now?.status ?? run.status}, not running`);
    }
    return withoutOwner((await getEvalRun(ctx.db, { id: input.runId }))!);
  }),

  examples: publicProcedure
    .input(
      z.object({
        resultId: dbId,
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
        endpoint: { url, protocol: ctx.env.INFERENCE_PROTOCOL, baseModelId: modelId, idleTimeoutMs: ctx.env.WORKER_IDLE_TIMEOUT_S * 1000 },
        modelId,
        tasks: [{ slug: adapter.slug, card, adapterId: adapter.adapterId, examples: loadTestExamples(card, { limit: input.limit ?? undefined }) }],
        exampleLimit: input.limit,
        concurrency: input.concurrency,
        // the admin's full run becomes the headline; anyone else's waits for the admin to pick it
        headline: ctx.admin === true && input.limit === null,
        ownerId: ctx.ownerId,
      });
      return { runId };
    }),

  /** live progress of a run until it is done or failed */
  progress: publicProcedure.input(z.object({ runId: dbId })).subscription(async function* ({ ctx, input, signal }) {
    yield* watchRun(ctx.db, input.runId, signal);
  }),

  /** a finished command-line run handed over to the app that owns the database (admin only) */
  ingest: adminMutationProcedure.input(ingestRunSchema).mutation(async ({ ctx, input }) => {
    const headline = await checkIngestRun(ctx.db, input);
    const run = await ingestEvalRun(ctx.db, { origin: "cli", ...input, headline });
    return { id: run.id, headline };
  }),

  /** the admin picks which full-test-split result is the adapter's headline figure */
  setHeadline: adminMutationProcedure.input(z.object({ resultId: dbId })).mutation(async ({ ctx, input }) => {
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
