import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCaller } from "../../server/root";
import { parseEnv } from "../../server/env";
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
    beforeAll(async () => {
      t = await target.open();
      // a worker URL where nothing listens: the router must say so, not hang
      const env = parseEnv({ INFERENCE_URL: "http://127.0.0.1:9", DATA_DIR: "/tmp/unused-eval-router" });
      caller = createCaller({ db: t.db, env, ownerId: OWNER, headers: new Headers() });
    });
    afterAll(async () => {
      await t?.close();
    });

    it("ingests a command-line run and shows it per adapter, with examples and measured catalog figures", async () => {
      const { id } = await caller.eval.ingest(ingestPayload());
      const { results, runningRunId } = await caller.eval.results({ slug: "sentiment" });
      expect(runningRunId).toBeNull();
      expect(results).toHaveLength(1);
      expect(results[0]!.run).toMatchObject({ id, origin: "cli", exampleLimit: 2 });
      const ex = await caller.eval.examples({ resultId: results[0]!.id, filter: "wrong" });
      expect(ex.total).toBe(0);
      expect((await caller.eval.examples({ resultId: results[0]!.id })).rows.map((r) => r.inputs.review)).toEqual(["r0", "r1"]);
      const adapter = await caller.catalog.bySlug({ slug: "sentiment" });
      const measured = adapter.metrics.filter((m) => m.source === "measured");
      expect(measured.map((m) => [m.modelLabel, m.value]).sort()).toEqual([["base", 0], ["fine_tuned", 1]]);
      // a finished run's progress is its final state
      const states = [];
      for await (const p of await caller.eval.progress({ runId: id })) states.push(p);
      expect(states).toEqual([{ runId: id, status: "done", done: 4, total: 4, error: null }]);
    });

    it("rejects a bad ingest payload naming the field", async () => {
      const bad = ingestPayload();
      bad.results[0]!.fineTuned = 1.5;
      await expect(caller.eval.ingest(bad)).rejects.toMatchObject({ code: "BAD_REQUEST" });
      await expect(caller.eval.ingest(bad)).rejects.toThrow(/fineTuned/);
    });

    it("start: unknown adapter, unknown task, worker offline each get a clear error", async () => {
      await expect(caller.eval.start({ slug: "nope" })).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(caller.eval.start({ slug: "sql", task: "nope" })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/task: no task card "nope"/) });
      await expect(caller.eval.start({ slug: "sql", limit: 2 })).rejects.toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringMatching(/not answering/) });
      await expect(caller.eval.start({ slug: "sql", limit: 0 })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    });

    it("start needs the owner cookie", async () => {
      const anon = createCaller({ db: t.db, env: parseEnv({ INFERENCE_URL: "http://127.0.0.1:9" }), ownerId: null, headers: new Headers() });
      await expect(anon.eval.start({ slug: "sql" })).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    });
  });
}
