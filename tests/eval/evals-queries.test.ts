import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metrics } from "../../db/schema/catalog";
import { evalExamples } from "../../db/schema/evals";
import {
  completeEvalRun,
  createEvalRun,
  failEvalRun,
  getEvalRun,
  ingestEvalRun,
  listAdapterResults,
  listEvalExamples,
  listEvalRuns,
  setEvalRunProgress,
  type EvalResultInput,
} from "../../server/db-queries/evals";
import { databases, type TestDb } from "./db-harness";

function sqlResult(scores: number[], baseScores: number[]): EvalResultInput {
  return {
    slug: "sql",
    adapterId: "sql",
    metric: "exact_match",
    n: scores.length,
    fineTuned: scores.reduce((a, b) => a + b, 0) / scores.length,
    base: baseScores.reduce((a, b) => a + b, 0) / baseScores.length,
    examples: scores.map((s, i) => ({
      index: i,
      inputs: { table: "t", columns: "a", question: `q${i}` },
      reference: `SELECT ${i}`,
      prediction: s ? `SELECT ${i}` : "SELECT x",
      basePrediction: "the",
      score: s,
      baseScore: baseScores[i]!,
      latencyMs: 10 + i,
      baseLatencyMs: 20 + i,
    })),
  };
}

const wordnet: EvalResultInput = {
  slug: "wordnet",
  adapterId: "wordnet",
  metric: "rouge_l",
  n: 2,
  fineTuned: 0.55,
  base: 0.1,
  examples: [
    { index: 0, inputs: { word: "dog", pos: "n" }, reference: "a b", prediction: "a", basePrediction: "x", score: 2 / 3, baseScore: 0, latencyMs: 1, baseLatencyMs: 1 },
    { index: 1, inputs: { word: "cat", pos: "n" }, reference: "a b c", prediction: "c", basePrediction: "a", score: 0.5 - 1e-6, baseScore: 0.2, latencyMs: 1, baseLatencyMs: 1 },
  ],
};

for (const target of databases) {
  describe(`eval queries on ${target.name}`, () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await target.open();
    });
    afterAll(async () => {
      await t?.close();
    });

    it("creates a run, records progress, completes it, and writes measured catalog metrics", async () => {
      const run = await createEvalRun(t.db, { origin: "web", modelId: "loraland-mini", workerUrl: "http://w", protocol: "lorax", adapters: ["sql", "wordnet"], exampleLimit: 4, concurrency: 16, total: 12 });
      expect(run.status).toBe("running");
      await setEvalRunProgress(t.db, { id: run.id, done: 5 });
      expect((await getEvalRun(t.db, { id: run.id }))!.done).toBe(5);

      const done = await completeEvalRun(t.db, { id: run.id, results: [sqlResult([1, 0, 1, 1], [0, 0, 0, 1]), wordnet], wallMs: 1234, requestsPerSecond: 9.7, throughput: null, headline: ["sql", "wordnet"] });
      expect(done.status).toBe("done");
      expect(done.done).toBe(12);
      expect(done.finishedAt).toBeInstanceOf(Date);

      const figures = await t.db.select().from(metrics).where(and(eq(metrics.adapterSlug, "sql"), eq(metrics.source, "measured")));
      const byLabel = Object.fromEntries(figures.map((f) => [f.modelLabel, f]));
      expect(byLabel.fine_tuned!.value).toBeCloseTo(0.75, 6);
      expect(byLabel.base!.value).toBeCloseTo(0.25, 6);
      expect(byLabel.fine_tuned!.examples).toBe(4);
      expect(byLabel.fine_tuned!.measuredBy).toBe(`eval run #${run.id}, loraland-mini, 4 examples`);
      // published figures of other adapters are untouched, and the demo adapters have none
      const published = await t.db.select().from(metrics).where(eq(metrics.source, "published"));
      expect(published.length).toBeGreaterThan(100);
      expect(published.some((p) => p.adapterSlug === "sql")).toBe(false);
    });

    it("lists results per adapter and pages examples filtered by right/wrong", async () => {
      const results = await listAdapterResults(t.db, { slug: "sql" });
      expect(results.length).toBe(1);
      expect(results[0]!.score).toBeCloseTo(0.75, 6);
      expect(results[0]!.n).toBe(4);
      const all = await listEvalExamples(t.db, { resultId: results[0]!.id });
      expect(all.total).toBe(4);
      expect(all.rows.map((r) => r.rowIndex)).toEqual([0, 1, 2, 3]);
      const wrong = await listEvalExamples(t.db, { resultId: results[0]!.id, filter: "wrong" });
      expect(wrong.total).toBe(1);
      expect(wrong.rows[0]!.prediction).toBe("SELECT x");
      expect(wrong.rows[0]!.baseCorrect).toBe(false);
      const page = await listEvalExamples(t.db, { resultId: results[0]!.id, filter: "right", offset: 1, limit: 1 });
      expect(page.total).toBe(3);
      expect(page.rows.map((r) => r.rowIndex)).toEqual([2]);

      // ROUGE-L: right means at least 0.5
      const [wn] = await listAdapterResults(t.db, { slug: "wordnet" });
      const rows = await t.db.select().from(evalExamples).where(eq(evalExamples.resultId, wn!.id));
      expect(rows.sort((a, b) => a.rowIndex - b.rowIndex).map((r) => r.correct)).toEqual([true, false]);
    });

    it("a newer run replaces the measured figure unless it saw fewer examples; a failed run is kept with its error", async () => {
      const ingest = (scores: number[]) =>
        ingestEvalRun(t.db, {
          origin: "cli", modelId: "loraland-mini", workerUrl: "http://w", protocol: "lorax", adapters: ["sql"], exampleLimit: null, concurrency: 8, total: scores.length * 2,
          startedAt: new Date(Date.now() - 1000), finishedAt: new Date(), results: [sqlResult(scores, scores.map(() => 0))], wallMs: 10, requestsPerSecond: 400,
          throughput: { perAdapter: 2, adapters: 1, concurrency: 8, concurrentExamplesPerSecond: 3, sequentialExamplesPerSecond: 2 },
          headline: ["sql"],
        });
      const measuredFt = async () =>
        (await t.db.select().from(metrics).where(and(eq(metrics.adapterSlug, "sql"), eq(metrics.source, "measured"), eq(metrics.modelLabel, "fine_tuned"))))[0]!;
      const small = await ingest([1, 1]); // 2 examples < the 4 measured before: the figure stays
      expect(small.status).toBe("done");
      expect(small.throughput!.concurrentExamplesPerSecond).toBe(3);
      expect((await measuredFt()).value).toBeCloseTo(0.75, 6);
      expect((await listAdapterResults(t.db, { slug: "sql" }))[0]!.runId).toBe(small.id); // but the run is listed first
      const big = await ingest([1, 1, 1, 1, 0]);
      expect((await measuredFt()).value).toBeCloseTo(0.8, 6);
      expect((await measuredFt()).measuredBy).toBe(`eval run #${big.id}, loraland-mini, 5 examples`);

      const failing = await createEvalRun(t.db, { origin: "web", modelId: "loraland-mini", workerUrl: "http://w", protocol: "lorax", adapters: ["ner"], exampleLimit: 1, concurrency: 1, total: 2 });
      await failEvalRun(t.db, { id: failing.id, error: "worker answered 404" });
      const runs = await listEvalRuns(t.db);
      expect(runs[0]!.id).toBe(failing.id);
      expect(runs[0]!.status).toBe("failed");
      expect(runs[0]!.error).toBe("worker answered 404");
      expect(await listAdapterResults(t.db, { slug: "ner" })).toEqual([]);
    });

    it("a NUL in what the model answered (or in a row) is stored as U+FFFD, not a failed run", async () => {
      const run = await createEvalRun(t.db, { origin: "web", modelId: "loraland-mini", workerUrl: "http://w", protocol: "lorax", adapters: ["nul-out"], exampleLimit: 1, concurrency: 1, total: 2 });
      const r = sqlResult([0], [0]);
      const ex = { ...r.examples[0]!, inputs: { "q\u0000": "a\u0000" }, prediction: "SELECT \u0000", basePrediction: "\u0000" };
      await completeEvalRun(t.db, { id: run.id, results: [{ ...r, slug: "nul-out", adapterId: "nul-out", examples: [ex] }], wallMs: 1, requestsPerSecond: 1, throughput: null });
      const [result] = await listAdapterResults(t.db, { slug: "nul-out" });
      const [row] = await t.db.select().from(evalExamples).where(eq(evalExamples.resultId, result!.id));
      expect([row!.prediction, row!.basePrediction, row!.inputs]).toEqual(["SELECT \uFFFD", "\uFFFD", { "q\uFFFD": "a\uFFFD" }]);
    });

    it("an adapter outside the catalog keeps its results but writes no catalog metric", async () => {
      const run = await createEvalRun(t.db, { origin: "web", modelId: "loraland-mini", workerUrl: "http://w", protocol: "lorax", adapters: ["my-upload"], exampleLimit: 1, concurrency: 1, total: 2 });
      await completeEvalRun(t.db, { id: run.id, results: [{ ...sqlResult([1], [0]), slug: "my-upload", adapterId: "my-upload" }], wallMs: 1, requestsPerSecond: 1, throughput: null });
      expect((await listAdapterResults(t.db, { slug: "my-upload" })).length).toBe(1);
      expect(await t.db.select().from(metrics).where(eq(metrics.adapterSlug, "my-upload"))).toEqual([]);
    });
  });
}
