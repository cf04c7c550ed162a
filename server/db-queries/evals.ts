/**
 * Eval run queries: create a run, record progress, store its results (results, per-example rows,
 * and the catalog's `measured` metrics, in one transaction), and read them back per adapter.
 * Small functions taking the db handle; the same on PGlite and Postgres.
 */
import { and, asc, desc, eq, inArray, sql, type SQL } from "drizzle-orm";
import type { Db } from "../../db/client";
import type { ExampleResult } from "../eval/runner";
import { adapters, metrics } from "../../db/schema/catalog";
import { evalExamples, evalResults, evalRuns, type EvalRunOrigin, type EvalThroughput } from "../../db/schema/evals";
import { storableJson, storableText } from "./text";

export type EvalRunRow = typeof evalRuns.$inferSelect;
export type EvalResultRow = typeof evalResults.$inferSelect;
export type EvalExampleRow = typeof evalExamples.$inferSelect;

/** A finished adapter's outcome as the runner (server/eval/runner.ts) produces it. */
export interface EvalResultInput {
  slug: string;
  adapterId: string;
  metric: string;
  n: number;
  fineTuned: number;
  base: number | null;
  examples: ExampleResult[];
}

export interface NewEvalRun {
  origin: EvalRunOrigin;
  modelId: string;
  workerUrl: string;
  protocol: string;
  adapters: string[];
  exampleLimit: number | null;
  concurrency: number;
  total: number;
  /** the owner who started a web run; absent/null for command-line runs */
  ownerId?: string | null;
}

/** Right or wrong for the example list: an exact score of 1, or ROUGE-L of at least 0.5. */
export function isCorrect(metric: string, score: number): boolean {
  return metric === "rouge_l" ? score >= 0.5 : score >= 1;
}

/** Who measured a figure, as the catalog shows it. */
export function measuredByLabel(run: Pick<EvalRunRow, "id" | "modelId">, n: number): string {
  return `eval run #${run.id}, ${run.modelId}, ${n} examples`;
}

/** The run id a measured figure's `measuredBy` names (see measuredByLabel), or null for other figures. */
export function measuredRunId(measuredBy: string): number | null {
  const m = /^eval run #(\d+),/.exec(measuredBy);
  return m ? Number(m[1]) : null;
}

/** The results of some runs by `${runId}:${adapterSlug}` (a run scores each adapter once): the rows behind measured figures. */
export async function resultIdsOfRuns(db: Db, { runIds }: { runIds: number[] }): Promise<Map<string, number>> {
  if (!runIds.length) return new Map();
  const rows = await db
    .select({ id: evalResults.id, runId: evalResults.runId, slug: evalResults.adapterSlug })
    .from(evalResults)
    .where(inArray(evalResults.runId, [...new Set(runIds)]));
  return new Map(rows.map((r) => [`${r.runId}:${r.slug}`, r.id]));
}

/** The catalog's `measured` rows of one result: the fine-tuned figure, and the base model's when it was scored. */
function measuredFigures(
  run: Pick<EvalRunRow, "id" | "modelId">,
  r: { slug: string; metric: string; n: number; fineTuned: number; base: number | null; measuredAt: Date },
) {
  const common = { adapterSlug: r.slug, source: "measured" as const, metricName: r.metric, examples: r.n, measuredAt: r.measuredAt, measuredBy: measuredByLabel(run, r.n) };
  return [
    { ...common, modelLabel: "fine_tuned" as const, value: r.fineTuned },
    ...(r.base === null ? [] : [{ ...common, modelLabel: "base" as const, value: r.base }]),
  ];
}

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/** Writes measured figures over the adapter's older ones (one row per adapter, model and source); `setWhere` keeps an older row when false. */
async function upsertMeasured(tx: Tx, figures: ReturnType<typeof measuredFigures>, setWhere?: SQL): Promise<void> {
  await tx
    .insert(metrics)
    .values(figures)
    .onConflictDoUpdate({
      target: [metrics.adapterSlug, metrics.modelLabel, metrics.source],
      set: {
        metricName: sql`excluded.metric_name`,
        value: sql`excluded.value`,
        examples: sql`excluded.examples`,
        measuredAt: sql`excluded.measured_at`,
        measuredBy: sql`excluded.measured_by`,
      },
      setWhere,
    });
}

export async function createEvalRun(db: Db, run: NewEvalRun): Promise<EvalRunRow> {
  const [row] = await db.insert(evalRuns).values({ ...run, status: "running", done: 0 }).returning();
  return row!;
}

/** Records progress of a running run; false when the row is no longer running (it was cancelled). */
export async function setEvalRunProgress(db: Db, { id, done, total }: { id: number; done: number; total?: number }): Promise<boolean> {
  const rows = await db
    .update(evalRuns)
    .set({ done, ...(total !== undefined ? { total } : {}) })
    .where(and(eq(evalRuns.id, id), eq(evalRuns.status, "running")))
    .returning({ id: evalRuns.id });
  return rows.length > 0;
}

/** Marks a running run cancelled (no results of its own); false when it was not running. */
export async function cancelEvalRunRow(db: Db, { id }: { id: number }): Promise<boolean> {
  const rows = await db
    .update(evalRuns)
    .set({ status: "cancelled", finishedAt: new Date() })
    .where(and(eq(evalRuns.id, id), eq(evalRuns.status, "running")))
    .returning({ id: evalRuns.id });
  return rows.length > 0;
}

export async function failEvalRun(db: Db, { id, error }: { id: number; error: string }): Promise<void> {
  await db.update(evalRuns).set({ status: "failed", error, finishedAt: new Date() }).where(eq(evalRuns.id, id));
}

/**
 * Store a run's results and mark it done: result rows, example rows, and for the adapters named in
 * `headline` (full-test-split results the caller may publish: server/eval/headline.ts) that are in
 * the catalog, the `measured` fine-tuned and base figures (replacing an older measured figure
 * unless that one was measured on more examples). Other results are history only.
 */
export async function completeEvalRun(
  db: Db,
  args: {
    id: number;
    results: EvalResultInput[];
    wallMs: number;
    requestsPerSecond: number;
    throughput: EvalThroughput | null;
    finishedAt?: Date;
    headline?: string[];
    /** "cancelled": the results are the examples answered before the cancel, and none is a headline */
    status?: "done" | "cancelled";
    /** requests done (a cancelled run's count); default: all of them */
    done?: number;
  },
): Promise<EvalRunRow> {
  const finishedAt = args.finishedAt ?? new Date();
  return db.transaction(async (tx) => {
    const [run] = await tx.select().from(evalRuns).where(eq(evalRuns.id, args.id));
    if (!run) throw new Error(`eval run #${args.id} does not exist`);
    for (const r of args.results) {
      const [result] = await tx
        .insert(evalResults)
        .values({ runId: run.id, adapterSlug: r.slug, adapterId: r.adapterId, metric: r.metric, score: r.fineTuned, baseScore: r.base, n: r.n })
        .returning({ id: evalResults.id });
      // chunks keep each statement's parameter count well under Postgres' limit
      for (let i = 0; i < r.examples.length; i += 500) {
        await tx.insert(evalExamples).values(
          r.examples.slice(i, i + 500).map((e) => ({
            resultId: result!.id,
            rowIndex: e.index,
            // what the model answered (and the task's rows) may hold a NUL: stored as U+FFFD
            inputs: storableJson(e.inputs),
            reference: storableText(e.reference),
            prediction: storableText(e.prediction),
            basePrediction: e.basePrediction === null ? null : storableText(e.basePrediction),
            score: e.score,
            baseScore: e.baseScore,
            correct: isCorrect(r.metric, e.score),
            baseCorrect: e.baseScore === null ? null : isCorrect(r.metric, e.baseScore),
            latencyMs: e.latencyMs,
            baseLatencyMs: e.baseLatencyMs,
          })),
        );
      }
    }
    const status = args.status ?? "done";
    const published = status === "done" ? args.results.filter((r) => args.headline?.includes(r.slug)) : [];
    const inCatalog = new Set(
      published.length
        ? (await tx.select({ slug: adapters.slug }).from(adapters).where(inArray(adapters.slug, published.map((r) => r.slug)))).map((a) => a.slug)
        : [],
    );
    const figures = published
      .filter((r) => inCatalog.has(r.slug))
      .flatMap((r) => measuredFigures(run, { slug: r.slug, metric: r.metric, n: r.n, fineTuned: r.fineTuned, base: r.base, measuredAt: finishedAt }));
    // a quick run (--limit 5) does not displace a figure measured on more examples
    if (figures.length) await upsertMeasured(tx, figures, sql`coalesce(${metrics.examples}, 0) <= excluded.examples`);
    const [done] = await tx
      .update(evalRuns)
      .set({ status, done: args.done ?? run.total, wallMs: args.wallMs, requestsPerSecond: args.requestsPerSecond, throughput: args.throughput, finishedAt })
      .where(eq(evalRuns.id, run.id))
      .returning();
    return done!;
  });
}

/** A run done elsewhere (the CLI handing its results to the app): created and completed at once. */
export async function ingestEvalRun(
  db: Db,
  args: NewEvalRun & { startedAt: Date; finishedAt: Date; results: EvalResultInput[]; wallMs: number; requestsPerSecond: number; throughput: EvalThroughput | null; headline?: string[] },
): Promise<EvalRunRow> {
  const { startedAt, finishedAt, results, wallMs, requestsPerSecond, throughput, headline, ...run } = args;
  const [created] = await db.insert(evalRuns).values({ ...run, status: "running", done: 0, startedAt }).returning();
  return completeEvalRun(db, { id: created!.id, results, wallMs, requestsPerSecond, throughput, finishedAt, headline });
}

/** A finished result with its run (for choosing the headline). */
export async function getEvalResult(db: Db, { id }: { id: number }): Promise<{ result: EvalResultRow; run: EvalRunRow } | null> {
  const [row] = await db.select({ result: evalResults, run: evalRuns }).from(evalResults).innerJoin(evalRuns, eq(evalResults.runId, evalRuns.id)).where(eq(evalResults.id, id));
  return row ?? null;
}

/** Make a result the adapter's headline `measured` figures (the admin's choice among full runs). */
export async function setHeadlineResult(db: Db, { result, run }: { result: EvalResultRow; run: EvalRunRow }): Promise<void> {
  const figures = measuredFigures(run, {
    slug: result.adapterSlug, metric: result.metric, n: result.n, fineTuned: result.score, base: result.baseScore, measuredAt: run.finishedAt ?? new Date(),
  });
  await db.transaction(async (tx) => {
    // a result without a base score leaves no older base figure behind
    if (result.baseScore === null) {
      await tx.delete(metrics).where(and(eq(metrics.adapterSlug, result.adapterSlug), eq(metrics.source, "measured"), eq(metrics.modelLabel, "base")));
    }
    await upsertMeasured(tx, figures);
  });
}

export async function getEvalRun(db: Db, { id }: { id: number }): Promise<EvalRunRow | null> {
  const [row] = await db.select().from(evalRuns).where(eq(evalRuns.id, id));
  return row ?? null;
}

export async function listEvalRuns(db: Db, { limit = 50 }: { limit?: number } = {}): Promise<EvalRunRow[]> {
  return db.select().from(evalRuns).orderBy(desc(evalRuns.startedAt), desc(evalRuns.id)).limit(limit);
}

export interface AdapterEvalResult extends EvalResultRow {
  run: Pick<EvalRunRow, "id" | "status" | "origin" | "ownerId" | "modelId" | "exampleLimit" | "startedAt" | "finishedAt">;
}

/** An adapter's results, newest run first (finished runs, and the partial results of cancelled ones). */
export async function listAdapterResults(db: Db, { slug, limit = 20 }: { slug: string; limit?: number }): Promise<AdapterEvalResult[]> {
  const rows = await db
    .select({ result: evalResults, run: evalRuns })
    .from(evalResults)
    .innerJoin(evalRuns, eq(evalResults.runId, evalRuns.id))
    .where(and(eq(evalResults.adapterSlug, slug), inArray(evalRuns.status, ["done", "cancelled"])))
    .orderBy(desc(evalRuns.finishedAt), desc(evalRuns.id))
    .limit(limit);
  return rows.map(({ result, run }) => ({
    ...result,
    run: { id: run.id, status: run.status, origin: run.origin, ownerId: run.ownerId, modelId: run.modelId, exampleLimit: run.exampleLimit, startedAt: run.startedAt, finishedAt: run.finishedAt },
  }));
}

/** Every example's fine-tuned and base score of some results, in row order (for their confidence intervals). */
export async function resultScores(db: Db, { resultIds }: { resultIds: number[] }): Promise<Map<number, { score: number[]; baseScore: (number | null)[] }>> {
  const out = new Map<number, { score: number[]; baseScore: (number | null)[] }>(resultIds.map((id) => [id, { score: [], baseScore: [] }]));
  if (!resultIds.length) return out;
  const rows = await db
    .select({ resultId: evalExamples.resultId, score: evalExamples.score, baseScore: evalExamples.baseScore })
    .from(evalExamples)
    .where(inArray(evalExamples.resultId, resultIds))
    .orderBy(asc(evalExamples.resultId), asc(evalExamples.rowIndex));
  for (const r of rows) {
    const s = out.get(r.resultId)!;
    s.score.push(r.score);
    s.baseScore.push(r.baseScore);
  }
  return out;
}

/** Two results' examples on the rows both scored, in row order: for comparing two runs example by example. */
export async function pairedExamples(db: Db, { a, b }: { a: number; b: number }): Promise<{ a: EvalExampleRow; b: EvalExampleRow }[]> {
  const [rowsA, rowsB] = await Promise.all(
    [a, b].map((resultId) => db.select().from(evalExamples).where(eq(evalExamples.resultId, resultId)).orderBy(asc(evalExamples.rowIndex))),
  );
  const byRow = new Map(rowsB!.map((r) => [r.rowIndex, r]));
  return rowsA!.flatMap((x) => {
    const y = byRow.get(x.rowIndex);
    return y ? [{ a: x, b: y }] : [];
  });
}

export type ExampleFilter = "all" | "right" | "wrong";

/** One page of a result's examples in row order; `right`/`wrong` judge the fine-tuned prediction. */
export async function listEvalExamples(
  db: Db,
  { resultId, filter = "all", offset = 0, limit = 20 }: { resultId: number; filter?: ExampleFilter; offset?: number; limit?: number },
): Promise<{ rows: EvalExampleRow[]; total: number }> {
  const where = and(eq(evalExamples.resultId, resultId), filter === "all" ? undefined : eq(evalExamples.correct, filter === "right"));
  const [rows, [count]] = await Promise.all([
    db.select().from(evalExamples).where(where).orderBy(asc(evalExamples.rowIndex)).offset(offset).limit(limit),
    db.select({ n: sql<number>`count(*)::int` }).from(evalExamples).where(where),
  ]);
  return { rows, total: count?.n ?? 0 };
}

/**
 * A user's uploaded or Hub-registered adapter as a catalog entry (collection `user`), optionally
 * with a task card's template and metric so it can be tried and evaluated on that task.
 */
export async function addUserAdapter(
  db: Db,
  a: {
    slug: string;
    adapterId: string;
    baseModelId: string;
    hfRepo: string | null;
    description: string;
    task: { slug: string; name: string; category: string; promptTemplate: string; inputColumns: string[]; outputColumn: string; metric: string } | null;
    /** the owner who added it; null when an admin registered it for everyone */
    ownerId: string | null;
  },
): Promise<void> {
  await db.insert(adapters).values({
    slug: a.slug,
    adapterId: a.adapterId,
    baseModelId: a.baseModelId,
    collection: "user",
    displayName: a.slug,
    category: a.task?.category ?? "User adapters",
    task: a.task?.name ?? "",
    description: a.description,
    dataset: "",
    promptTemplate: a.task?.promptTemplate ?? null,
    inputColumns: a.task?.inputColumns ?? [],
    targetColumn: a.task?.outputColumn ?? null,
    metricName: a.task?.metric ?? "none",
    hfRepo: a.hfRepo,
    taskCard: a.task?.slug ?? null,
    ownerId: a.ownerId,
    sortOrder: 5000,
  });
}

export async function removeUserAdapter(db: Db, { slug }: { slug: string }): Promise<void> {
  await db.delete(adapters).where(and(eq(adapters.slug, slug), eq(adapters.collection, "user")));
}

/** Who may remove an adapter: its collection and owner (null when it is not in the catalog). */
export async function adapterOwnership(db: Db, { slug }: { slug: string }): Promise<{ collection: string; ownerId: string | null } | null> {
  const [row] = await db.select({ collection: adapters.collection, ownerId: adapters.ownerId }).from(adapters).where(eq(adapters.slug, slug)).limit(1);
  return row ?? null;
}

/** Is a Hugging Face repo one the catalog lists (any owner may register those)? */
export async function catalogListsRepo(db: Db, { repo }: { repo: string }): Promise<boolean> {
  const rows = await db
    .select({ slug: adapters.slug })
    .from(adapters)
    .where(and(sql`lower(${adapters.hfRepo}) = lower(${repo})`, sql`${adapters.collection} <> 'user'`))
    .limit(1);
  return rows.length > 0;
}

export async function adapterSlugTaken(db: Db, { slug }: { slug: string }): Promise<boolean> {
  const rows = await db.select({ slug: adapters.slug }).from(adapters).where(eq(adapters.slug, slug)).limit(1);
  return rows.length > 0;
}
