/**
 * The catalog's measured-here figures carry 95% bootstrap intervals (issue 14, item 13: "beside
 * every score"): catalog.list and catalog.bySlug give each adapter the intervals of the eval
 * result behind its measured figure — the same numbers the eval page shows for that result
 * (eval.results), recomputed here from the stored per-example scores — and null for adapters with
 * no measured figure. A later run that is not the headline does not move them; picking it as the
 * headline does. On PGlite, and on Postgres when DATABASE_URL is set.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedCatalog } from "../../db/seed";
import { ingestEvalRun, setHeadlineResult, getEvalResult, listAdapterResults, type EvalResultInput } from "../../server/db-queries/evals";
import { bootstrapMean, pairedBootstrap } from "../../server/eval/bootstrap";
import { parseEnv } from "../../server/env";
import { createCaller } from "../../server/root";
import { createTRPCContext } from "../../server/trpc";
import { freePort } from "../e2e/browser";
import { drivers, type TestDatabase } from "./db-harness";

const ROOT = path.resolve(import.meta.dirname, "../..");

function sqlResult(scores: number[], baseScores: number[]): EvalResultInput {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    slug: "sql",
    adapterId: "sql",
    metric: "exact_match",
    n: scores.length,
    fineTuned: mean(scores),
    base: mean(baseScores),
    examples: scores.map((s, i) => ({
      index: i,
      inputs: { table: "t", columns: "a", question: `q${i}` },
      reference: `SELECT ${i}`,
      prediction: s ? `SELECT ${i}` : "SELECT x",
      basePrediction: "the",
      score: s,
      baseScore: baseScores[i]!,
      latencyMs: 10,
      baseLatencyMs: 10,
    })),
  };
}

describe.each(drivers)("measured-here intervals in the catalog on $name", ({ open }) => {
  let h: TestDatabase;
  beforeAll(async () => {
    h = await open();
    await seedCatalog(h.db, { root: ROOT });
  });
  afterAll(async () => {
    await h?.close();
  });

  const caller = async () => createCaller(await createTRPCContext({ headers: new Headers(), db: h.db, env: parseEnv({ WORKER_PORT: String(await freePort()) }) }));
  const ingest = (scores: number[], base: number[], headline: boolean) =>
    ingestEvalRun(h.db, {
      origin: "cli", modelId: "loraland-mini", workerUrl: "http://w", protocol: "lorax", adapters: ["sql"], exampleLimit: null, concurrency: 1, total: scores.length * 2,
      startedAt: new Date(Date.now() - 1000), finishedAt: new Date(), results: [sqlResult(scores, base)], wallMs: 10, requestsPerSecond: 1, throughput: null,
      headline: headline ? ["sql"] : [],
    });

  it("no measured figure: intervals are null", async () => {
    const c = await caller();
    const { adapters } = await c.catalog.list();
    expect(adapters.every((a) => a.intervals === null)).toBe(true);
    expect((await c.catalog.bySlug({ slug: "sql" })).intervals).toBeNull();
  });

  it("the headline result's intervals, as the eval page shows them; a later non-headline run leaves them; picking it moves them", async () => {
    // 40 examples, 30 right; the base model right on 4 of them
    const scores = Array.from({ length: 40 }, (_, i) => (i % 4 === 3 ? 0 : 1));
    const base = Array.from({ length: 40 }, (_, i) => (i % 10 === 0 ? 1 : 0));
    const run = await ingest(scores, base, true);
    const [result] = await listAdapterResults(h.db, { slug: "sql" });
    expect(result!.runId).toBe(run.id);

    const c = await caller();
    const listed = (await c.catalog.list()).adapters.find((a) => a.slug === "sql")!;
    const one = await c.catalog.bySlug({ slug: "sql" });
    expect(listed.intervals).toEqual(one.intervals);
    const want = { ci: bootstrapMean(scores, { seed: result!.id }), baseCi: bootstrapMean(base, { seed: result!.id }), liftCi: pairedBootstrap(scores, base, { seed: result!.id }) };
    expect(one.intervals).toEqual(want);
    // a real interval around the figure shown, inside 0..1
    const ft = one.metrics.find((m) => m.source === "measured" && m.modelLabel === "fine_tuned")!.value;
    expect(one.intervals!.ci!.low).toBeLessThan(ft);
    expect(one.intervals!.ci!.high).toBeGreaterThan(ft);
    expect(one.intervals!.ci!.low).toBeGreaterThanOrEqual(0);
    expect(one.intervals!.ci!.high).toBeLessThanOrEqual(1);
    expect(one.intervals!.ci!.n).toBe(40);
    expect(one.intervals!.liftCi!.mean).toBeCloseTo(30 / 40 - 4 / 40, 9);
    // the same numbers as the eval page's row for that result
    const page = await c.eval.results({ slug: "sql" });
    const row = page.results.find((r) => r.id === result!.id)!;
    expect({ ci: row.ci, baseCi: row.baseCi }).toEqual({ ci: want.ci, baseCi: want.baseCi });
    // other adapters have none
    expect((await c.catalog.list()).adapters.filter((a) => a.intervals !== null).map((a) => a.slug)).toEqual(["sql"]);

    // a later run that is not the headline: the catalog's figure and its interval stay
    const worse = Array.from({ length: 40 }, (_, i) => (i % 2 ? 0 : 1));
    const later = await ingest(worse, base, false);
    expect((await c.catalog.bySlug({ slug: "sql" })).intervals).toEqual(want);
    // the admin picks it: figure and interval follow
    const laterResult = (await listAdapterResults(h.db, { slug: "sql" })).find((r) => r.runId === later.id)!;
    await setHeadlineResult(h.db, (await getEvalResult(h.db, { id: laterResult.id }))!);
    const picked = await c.catalog.bySlug({ slug: "sql" });
    expect(picked.metrics.find((m) => m.source === "measured" && m.modelLabel === "fine_tuned")!.value).toBeCloseTo(0.5, 6);
    expect(picked.intervals!.ci).toEqual(bootstrapMean(worse, { seed: laterResult.id }));
  });
});
