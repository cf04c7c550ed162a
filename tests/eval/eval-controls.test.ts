/**
 * Eval controls (issue 14 item 13) through the router with the REAL worker on the demo model, on
 * PGlite and Postgres: cancelling a run (owner or admin only; no more requests after it answers;
 * the examples answered are kept; never a headline, even for the admin's full run), bootstrap
 * intervals beside every score, and comparing two runs example by example.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getEvalRun } from "../../server/db-queries/evals";
import { parseEnv } from "../../server/env";
import { createCaller } from "../../server/root";
import { startWorker, type WorkerProcess } from "../../server/eval/worker-process";
import { ROOT } from "../e2e/browser";
import { realWorkerAvailable } from "../e2e/playground-harness";
import { databases, type TestDb } from "./db-harness";

const ALICE = randomUUID();
const BOB = randomUUID();
const ADMIN_OWNER = randomUUID();

if (!realWorkerAvailable()) process.stderr.write("\n!!!!! SKIPPING tests/eval/eval-controls.test.ts: the worker (inference/cli/serve.ts) is not there !!!!!\n\n");

describe.runIf(realWorkerAvailable())("eval controls with the real worker", () => {
  let worker: WorkerProcess;
  beforeAll(async () => {
    worker = await startWorker({ root: ROOT, modelDir: path.join(ROOT, "data/demo/base"), adaptersDir: path.join(ROOT, "data/demo/adapters"), modelId: "loraland-mini" });
  }, 120_000);
  afterAll(async () => {
    await worker?.stop();
  });

  for (const target of databases) {
    describe(`on ${target.name}`, () => {
      let t: TestDb;
      let alice: ReturnType<typeof createCaller>;
      let bob: ReturnType<typeof createCaller>;
      let admin: ReturnType<typeof createCaller>;
      beforeAll(async () => {
        t = await target.open();
        const env = parseEnv({ INFERENCE_URL: worker.url, DATA_DIR: "/tmp/unused-eval-controls" });
        alice = createCaller({ db: t.db, env, ownerId: ALICE, headers: new Headers() });
        bob = createCaller({ db: t.db, env, ownerId: BOB, headers: new Headers() });
        admin = createCaller({ db: t.db, env, ownerId: ADMIN_OWNER, admin: true, headers: new Headers() });
      });
      afterAll(async () => {
        await t?.close();
      });

      /** Waits (on the run's own progress, no clock) until `n` requests are done. */
      async function untilDone(caller: typeof alice, runId: number, n: number) {
        for await (const p of await caller.eval.progress({ runId })) if (p.done >= n || p.status !== "running") return p;
        throw new Error("progress ended");
      }

      it("the owner cancels a running run: someone else cannot, the answered examples are kept, no request follows", async () => {
        const { runId } = await alice.eval.start({ slug: "sentiment", limit: null, concurrency: 1 });
        expect((await untilDone(alice, runId, 4)).status).toBe("running");
        expect((await alice.eval.results({ slug: "sentiment" })).canCancel).toBe(true);
        expect((await bob.eval.results({ slug: "sentiment" })).canCancel).toBe(false);
        await expect(bob.eval.cancel({ runId })).rejects.toMatchObject({ code: "FORBIDDEN", message: expect.stringMatching(/^runId: .*someone else/) });

        const cancelled = await alice.eval.cancel({ runId });
        expect(cancelled).toMatchObject({ id: runId, status: "cancelled" });
        expect(cancelled).not.toHaveProperty("ownerId");
        const row = (await getEvalRun(t.db, { id: runId }))!;
        // the run has ended: its count does not move after cancel answered (one request in flight at most was cut off)
        const { results } = await alice.eval.results({ slug: "sentiment" });
        const r = results.find((x) => x.run.id === runId)!;
        expect(r.run.status).toBe("cancelled");
        expect(r.n).toBeGreaterThanOrEqual(2);
        expect(r.n).toBeLessThan(500);
        expect(row.done).toBeGreaterThanOrEqual(2 * r.n);
        expect(row.done).toBeLessThanOrEqual(2 * r.n + 1);
        expect((await alice.eval.examples({ resultId: r.id, limit: 100 })).total).toBe(r.n);
        const again = (await getEvalRun(t.db, { id: runId }))!;
        expect(again.done).toBe(row.done);
        // a finished (cancelled) run cannot be cancelled again; an unknown one is 404
        await expect(alice.eval.cancel({ runId })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/is cancelled, not running/) });
        await expect(alice.eval.cancel({ runId: 999_999 })).rejects.toMatchObject({ code: "NOT_FOUND" });
        // never a headline
        await expect(admin.eval.setHeadline({ resultId: r.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
      }, 120_000);

      it("the admin's full run, cancelled, leaves the catalog's measured figures alone", async () => {
        const before = (await alice.catalog.bySlug({ slug: "sentiment" })).metrics.filter((m) => m.source === "measured");
        const { runId } = await admin.eval.start({ slug: "sentiment", limit: null, concurrency: 2 });
        await untilDone(admin, runId, 4);
        expect((await admin.eval.results({ slug: "sentiment" })).canCancel).toBe(true);
        expect(await admin.eval.cancel({ runId })).toMatchObject({ status: "cancelled" });
        expect((await alice.catalog.bySlug({ slug: "sentiment" })).metrics.filter((m) => m.source === "measured")).toEqual(before);
      }, 120_000);

      it("every score has a bootstrap interval around it, and two runs compare example by example", async () => {
        const one = await alice.eval.start({ slug: "sentiment", limit: 6, concurrency: 4 });
        await untilDone(alice, one.runId, 1_000);
        const two = await alice.eval.start({ slug: "sentiment", limit: 8, concurrency: 4 });
        await untilDone(alice, two.runId, 1_000);
        const { results } = await alice.eval.results({ slug: "sentiment" });
        for (const r of results) {
          expect(r.ci).toMatchObject({ n: r.n, resamples: 1000, level: 0.95 });
          expect(r.ci!.mean).toBeCloseTo(r.score, 5);
          expect(r.ci!.low).toBeLessThanOrEqual(r.score + 1e-9);
          expect(r.ci!.high).toBeGreaterThanOrEqual(r.score - 1e-9);
          expect(r.baseCi!.mean).toBeCloseTo(r.baseScore!, 5);
        }
        // the same request twice gives the same interval (seeded)
        expect((await alice.eval.results({ slug: "sentiment" })).results.map((r) => r.ci)).toEqual(results.map((r) => r.ci));

        const a = results.find((r) => r.run.id === one.runId)!;
        const b = results.find((r) => r.run.id === two.runId)!;
        const cmp = await alice.eval.compare({ a: a.id, b: b.id, changedOnly: false });
        // greedy on the same rows: the first 6 answers are the same in both runs
        expect(cmp).toMatchObject({ common: 6, fixed: 0, broke: 0, metric: "accuracy" });
        expect(cmp.rows.map((r) => r.rowIndex)).toEqual([0, 1, 2, 3, 4, 5]);
        expect(cmp.rows.every((r) => r.change === "same" && r.a.prediction === r.b.prediction)).toBe(true);
        expect(cmp.delta).toMatchObject({ mean: 0, low: 0, high: 0 });
        expect((await alice.eval.compare({ a: a.id, b: b.id })).rows).toEqual([]);
        const sql = await alice.eval.start({ slug: "sql", limit: 2, concurrency: 2 });
        await untilDone(alice, sql.runId, 1_000);
        const sqlResult = (await alice.eval.results({ slug: "sql" })).results[0]!;
        await expect(alice.eval.compare({ a: a.id, b: sqlResult.id })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/^b: .*compare results of one adapter/) });
        await expect(alice.eval.compare({ a: a.id, b: 999_999 })).rejects.toMatchObject({ code: "NOT_FOUND", message: expect.stringMatching(/^b: /) });
      }, 180_000);
    });
  }
});
