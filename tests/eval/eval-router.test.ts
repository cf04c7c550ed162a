import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCaller } from "../../server/root";
import { parseEnv } from "../../server/env";
import { fullSplitSize } from "../../server/eval/headline";
import { loadTaskCards } from "../../server/eval/tasks";
import { databases, type TestDb } from "./db-harness";

const OWNER = "0b0e7a3c-4d2f-4b7e-9a51-1f2e3d4c5b6a";

function ingestPayload(overrides: Record<string, unknown> = {}) {
  return {
    modelId: "loraland-mini",
    workerUrl: "http://127.0.0.1:9",
    protocol: "lorax" as const,
    adapters: ["sentiment"],
    exampleLimit: 2,
    concurrency: 4,
    total: 4,
    startedAt: new Date(Date.now() - 5000),
    finishedAt: new Date(),
    wallMs: 5000,
    requestsPerSecond: 0.8,
    throughput: null,
    results: [
      {
        slug: "sentiment",
        adapterId: "sentiment",
        metric: "accuracy" as const,
        n: 2,
        fineTuned: 1,
        base: 0,
        examples: [0, 1].map((i) => ({
          index: i,
          inputs: { review: `r${i}` },
          reference: "positive",
          prediction: "positive",
          basePrediction: "The",
          score: 1,
          baseScore: 0,
          latencyMs: 12,
          baseLatencyMs: 13,
        })),
      },
    ],
    ...overrides,
  };
}

for (const target of databases) {
  describe(`eval router on ${target.name}`, () => {
    let t: TestDb;
    let caller: ReturnType<typeof createCaller>;
    let admin: ReturnType<typeof createCaller>;
    beforeAll(async () => {
      t = await target.open();
      // a worker URL where nothing listens: the router must say so, not hang
      const env = parseEnv({ INFERENCE_URL: "http://127.0.0.1:9", DATA_DIR: "/tmp/unused-eval-router" });
      caller = createCaller({ db: t.db, env, ownerId: OWNER, headers: new Headers() });
      admin = createCaller({ db: t.db, env, ownerId: null, admin: true, headers: new Headers() });
    });
    afterAll(async () => {
      await t?.close();
    });

    it("ingests a command-line run and shows it per adapter, with examples; a partial run is no headline figure", async () => {
      const { id, headline } = await admin.eval.ingest(ingestPayload());
      expect(headline).toEqual([]);
      const { results, runningRunId } = await caller.eval.results({ slug: "sentiment" });
      expect(runningRunId).toBeNull();
      expect(results).toHaveLength(1);
      expect(results[0]!.run).toMatchObject({ id, origin: "cli", exampleLimit: 2 });
      const ex = await caller.eval.examples({ resultId: results[0]!.id, filter: "wrong" });
      expect(ex.total).toBe(0);
      expect((await caller.eval.examples({ resultId: results[0]!.id })).rows.map((r) => r.inputs.review)).toEqual(["r0", "r1"]);
      const adapter = await caller.catalog.bySlug({ slug: "sentiment" });
      expect(adapter.metrics.filter((m) => m.source === "measured")).toEqual([]);
      // a finished run's progress is its final state
      const states = [];
      for await (const p of await caller.eval.progress({ runId: id })) states.push(p);
      expect(states).toEqual([{ runId: id, status: "done", done: 4, total: 4, error: null }]);
    });

    it("rejects a bad ingest payload naming the field", async () => {
      const bad = ingestPayload();
      bad.results[0]!.fineTuned = 1.5;
      await expect(admin.eval.ingest(bad)).rejects.toMatchObject({ code: "BAD_REQUEST" });
      await expect(admin.eval.ingest(bad)).rejects.toThrow(/fineTuned/);
    });

    it("refuses figures a 4-byte real or a timestamp cannot store, naming the field (a 500 from the insert before)", async () => {
      for (const [field, value] of [["requestsPerSecond", 5e-324], ["wallMs", 1e39]] as const) {
        const bad = ingestPayload({ [field]: value });
        await expect(admin.eval.ingest(bad)).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(new RegExp(`${field}[\\s\\S]*4-byte real`)) });
      }
      // a date the timestamp column cannot take as written (ISO's six-digit year)
      const late = ingestPayload({ finishedAt: "+253305-01-24T18:02:32.030Z" });
      await expect(admin.eval.ingest(late)).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/finishedAt[\s\S]*between the years 1900 and 9999/) });
    });

    it("ingest is the admin's: an owner cannot replace the catalog's figures", async () => {
      await expect(caller.eval.ingest(ingestPayload())).rejects.toMatchObject({ code: "FORBIDDEN" });
    });

    it("ingest refuses a result of another task than the adapter's own", async () => {
      const other = ingestPayload();
      Object.assign(other.results[0]!, { task: "spam" });
      await expect(admin.eval.ingest(other)).rejects.toMatchObject({ code: "UNPROCESSABLE_CONTENT", message: expect.stringMatching(/results\.0\.task: "sentiment" is evaluated on task "sentiment", not "spam"/) });
      const wrongMetric = ingestPayload();
      wrongMetric.results[0]!.metric = "rouge_l" as "accuracy";
      await expect(admin.eval.ingest(wrongMetric)).rejects.toMatchObject({ code: "UNPROCESSABLE_CONTENT", message: expect.stringMatching(/results\.0\.metric/) });
    });

    it("the headline comes from a full-test-split run, and the admin chooses which", async () => {
      const full = (fineTuned: number) => {
        const p = ingestPayload({ exampleLimit: null });
        const r = p.results[0]!;
        r.n = fullSplitSize(loadTaskCards().find((c) => c.slug === "sentiment")!);
        r.fineTuned = fineTuned;
        r.examples = Array.from({ length: r.n }, (_, i) => ({ ...r.examples[0]!, index: i }));
        return p;
      };
      const first = await admin.eval.ingest(full(0.9));
      expect(first.headline).toEqual(["sentiment"]);
      const measured = async () => (await caller.catalog.bySlug({ slug: "sentiment" })).metrics.find((m) => m.source === "measured" && m.modelLabel === "fine_tuned");
      expect(await measured()).toMatchObject({ value: expect.closeTo(0.9, 6), examples: 500 });
      const second = await admin.eval.ingest(full(0.7));
      expect((await measured())!.value).toBeCloseTo(0.7, 6);

      const results = (await caller.eval.results({ slug: "sentiment" })).results;
      const firstResult = results.find((r) => r.runId === first.id)!;
      const partial = results.find((r) => r.n < 500)!;
      await expect(caller.eval.setHeadline({ resultId: firstResult.id })).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(admin.eval.setHeadline({ resultId: partial.id })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/not a run over the full test split/) });
      expect(await admin.eval.setHeadline({ resultId: firstResult.id })).toEqual({ slug: "sentiment", n: 500 });
      expect(await measured()).toMatchObject({ value: expect.closeTo(0.9, 6), measuredBy: `eval run #${first.id}, loraland-mini, 500 examples` });
      expect(second.id).toBeGreaterThan(first.id);
    });

    it("start: unknown adapter, unknown task, worker offline each get a clear error", async () => {
      await expect(caller.eval.start({ slug: "nope" })).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(caller.eval.start({ slug: "sql", task: "nope" })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/task: "sql" is evaluated on its own task "sql", not "nope"/) });
      // another task's run cannot stand for this adapter's score
      await expect(caller.eval.start({ slug: "sentiment", task: "spam", limit: 3 })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/^task:/) });
      // LoRA Land's published adapters have no local task card
      await expect(caller.eval.start({ slug: "conllpp" })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/has no task card/) });
      await expect(caller.eval.start({ slug: "sql", limit: 2 })).rejects.toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringMatching(/not answering/) });
      await expect(caller.eval.start({ slug: "sql", limit: 0 })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    });

    it("start needs the owner cookie", async () => {
      const anon = createCaller({ db: t.db, env: parseEnv({ INFERENCE_URL: "http://127.0.0.1:9" }), ownerId: null, headers: new Headers() });
      await expect(anon.eval.start({ slug: "sql" })).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    });
  });
}
