/**
 * The `train` router and its manager against the REAL built-in worker on the bundled model, on
 * PGlite (and Postgres when DATABASE_URL is set): validation errors name the field, a dataset with
 * no usable row is refused saying why, uploads are their owner's, a second start queues (position
 * shown), someone else's run is not cancellable, a cancel stops a running run, a short real run
 * (64 rows of sentiment's train split, 1 epoch, r=4 on q/v) reaches done and its PEFT folder is
 * registered with the worker, answers a generation, is listed in the catalog as trained here and
 * is evaluated with the base model beside it; a run interrupted by a crash is resumed from its
 * checkpoint by a new manager on the same database and DATA_DIR.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { and, eq, gte } from "drizzle-orm";
import { trainPoints } from "../../db/schema";
import { seedCatalog } from "../../db/seed";
import { listCatalogAdapters } from "../../server/db-queries/catalog";
import { getEvalRun, listAdapterResults } from "../../server/db-queries/evals";
import { getTrainRun, listTrainPoints } from "../../server/db-queries/train";
import { parseEnv } from "../../server/env";
import { startWorker, type WorkerProcess } from "../../server/eval/worker-process";
import { generateText } from "../../server/inference/client";
import { createCaller } from "../../server/root";
import { DatasetUploadError, storeDatasetUpload } from "../../server/train/datasets";
import { setTrainManager, TrainManager, type TrainRunEvent } from "../../server/train/manager";
import { drivers, type TestDatabase } from "./db-harness";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SHORT = { adapter: { r: 4, alpha: 8, dropout: 0.05, target_modules: ["q_proj", "v_proj"] }, trainer: { epochs: 1, batch_size: 16, max_examples: 64, learning_rate: 0.002, checkpoint_every: 1 } };
const LONG = { ...SHORT, trainer: { ...SHORT.trainer, epochs: 50 } };
const RESUMABLE = { ...SHORT, trainer: { ...SHORT.trainer, epochs: 3 } };

/** Events of a run's progress subscription until `until` holds (or the run ends). */
async function follow(c: ReturnType<typeof createCaller>, runId: number, until: (e: TrainRunEvent) => boolean): Promise<TrainRunEvent[]> {
  const events: TrainRunEvent[] = [];
  for await (const e of await c.train.progress({ runId })) {
    events.push(e);
    if (until(e)) break;
  }
  return events;
}

describe.each(drivers)("train router ($name)", ({ name, open }) => {
  // PGlite: the full test split (the catalog's measured figures, adapter and base); Postgres: 12 rows
  const evalLimit = name === "pglite" ? null : 12;
  let h: TestDatabase;
  let dataDir: string;
  let worker: WorkerProcess;
  let manager: TrainManager;
  const logs: string[] = [];
  const owner1 = randomUUID();
  const owner2 = randomUUID();
  let env: ReturnType<typeof parseEnv>;
  const headers = () => new Headers({ host: "localhost:3000", origin: "http://localhost:3000" });
  const caller = (ownerId: string | null, admin = false) => createCaller({ db: h.db, env, ownerId, admin, headers: headers() });
  const newManager = () =>
    new TrainManager(h.db, { dataDir, modelDir: env.MODEL_DIR, inferenceUrl: worker.url, protocol: "lorax", root: ROOT, leaseMs: 2000, evalLimit, log: (l) => logs.push(l) });

  beforeAll(async () => {
    h = await open();
    await seedCatalog(h.db, { root: ROOT });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-train-"));
    // the worker serves DATA_DIR/adapters, where finished runs put their adapters (as uploads)
    worker = await startWorker({ root: ROOT, modelDir: path.join(ROOT, "data/demo/base"), adaptersDir: path.join(ROOT, "data/demo/adapters"), modelId: "loraland-mini", env: { DATA_DIR: dataDir }, timeoutMs: 180_000 });
    env = parseEnv({ DATA_DIR: dataDir, WORKER_PORT: new URL(worker.url).port });
    manager = newManager();
    setTrainManager(h.db, manager);
  }, 200_000);
  afterAll(async () => {
    await manager?.stop();
    await worker?.stop();
    await h?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("offers the demo train splits with their card's template and previews rendered prompts with the row accounting", async () => {
    const c = caller(owner1);
    const { demo } = await c.train.datasets();
    const sentiment = demo.find((d) => d.task === "sentiment")!;
    expect(sentiment).toMatchObject({ outputColumn: expect.any(String), hasTestSplit: true });
    const p = await c.train.preview({ dataset: { kind: "demo", task: "sentiment" }, limit: 3 });
    expect(p.rows).toHaveLength(3);
    expect(p.rows[0]!.prompt).toContain(p.rows[0]!.prompt!.slice(0, 5));
    expect(p.rows[0]!.promptTokens).toBeGreaterThan(0);
    expect(p.accounting.usable).toBe(p.accounting.rows);
    expect(p.problem).toBeNull();
    // a max_length the prompts fill: every row is dropped and counted, and the problem is named
    const tiny = await c.train.preview({ dataset: { kind: "demo", task: "sentiment" }, maxLength: 2 });
    expect(tiny.accounting.tooLong).toBe(tiny.accounting.rows);
    expect(tiny.problem).toMatch(/no usable row: .* with a prompt of max_length tokens or more/);
  });

  it("refuses bad input naming the field", async () => {
    const c = caller(owner1);
    const demo = { kind: "demo" as const, task: "sentiment" };
    await expect(c.train.start({ dataset: demo, config: { trainer: { batch_size: 0 } } })).rejects.toThrow(/^config\.trainer\.batch_size: /);
    await expect(c.train.start({ dataset: demo, config: { adapter: { target_modules: ["x_proj"] } } })).rejects.toThrow(/^config\.adapter\.target_modules/);
    await expect(c.train.start({ dataset: demo, config: { trainer: { bogus: 1 } } })).rejects.toThrow(/^config\.trainer\.bogus: unknown key/);
    await expect(c.train.start({ dataset: demo, config: { base_model: "/etc" } })).rejects.toThrow(/^config\.base_model: set by the server/);
    await expect(c.train.start({ dataset: demo, config: { prompt_template: "no placeholder" } })).rejects.toThrow(/^config\.prompt_template: has no \{column\} placeholder/);
    await expect(c.train.start({ dataset: { kind: "demo", task: "nope" } })).rejects.toThrow(/^dataset\.task: no demo task "nope"/);
    await expect(c.train.start({ dataset: demo, config: { trainer: { max_length: 2 } } })).rejects.toThrow(/^dataset: .*no usable row/);
    await expect(c.train.start({ dataset: demo, name: "Bad Name!" })).rejects.toThrow(/lowercase letters/);
    await expect(c.train.start({ dataset: demo, name: "sentiment" })).rejects.toThrow(/^name: an adapter "sentiment" is already in the catalog/);
    await expect(caller(null).train.start({ dataset: demo })).rejects.toThrow(/owner cookie/);
    await expect(caller(null).train.preview({ dataset: demo })).rejects.toThrow(/owner cookie/);
    await expect(c.train.cancel({ runId: 0 })).rejects.toThrow();
    await expect(c.train.cancel({ runId: 999_999 })).rejects.toThrow(/^runId: no training run/);
  });

  it("stores uploads for their owner only and refuses a file with no usable row naming the problem", async () => {
    const csv = "review,label\n\"great, really\",positive\nawful,\n";
    const up = await storeDatasetUpload(h.db, { ownerId: owner1, fileName: "reviews.csv.gz", bytes: gzipSync(csv), dataDir });
    expect(up).toMatchObject({ fileName: "reviews.csv.gz", rows: 2, columns: ["review", "label"] });
    await expect(storeDatasetUpload(h.db, { ownerId: owner1, fileName: "x.txt", bytes: new Uint8Array([1]), dataDir })).rejects.toThrow(DatasetUploadError);
    await expect(storeDatasetUpload(h.db, { ownerId: owner1, fileName: "x.jsonl", bytes: Buffer.from("[1]\n2\n"), dataDir })).rejects.toThrow(/file: none of the 2 lines/);
    // over 50 MB, as sent or once gunzipped: 413
    await expect(storeDatasetUpload(h.db, { ownerId: owner1, fileName: "big.csv", bytes: new Uint8Array(50 * 1024 * 1024 + 1), dataDir })).rejects.toMatchObject({ status: 413 });
    await expect(storeDatasetUpload(h.db, { ownerId: owner1, fileName: "bomb.jsonl.gz", bytes: gzipSync(new Uint8Array(51 * 1024 * 1024)), dataDir })).rejects.toMatchObject({ status: 413, message: expect.stringMatching(/^file: bomb\.jsonl\.gz: 53\.5 MB is over the 50 MB limit/) });
    expect(fs.readdirSync(path.join(dataDir, "train", "datasets"))).toEqual([up.id]);
    expect((await caller(owner1).train.datasets()).uploads.map((u) => u.id)).toEqual([up.id]);
    expect((await caller(owner2).train.datasets()).uploads).toEqual([]);
    await expect(caller(owner2).train.preview({ dataset: { kind: "upload", id: up.id }, promptTemplate: "{review}", outputColumn: "label" })).rejects.toThrow(/^dataset\.id: no uploaded dataset/);
    const p = await caller(owner1).train.preview({ dataset: { kind: "upload", id: up.id }, promptTemplate: "Review: {review}\nSentiment:", outputColumn: "label" });
    expect(p.rows[0]).toMatchObject({ status: "ok", prompt: "Review: great, really\nSentiment:", output: "positive" });
    expect(p.accounting).toMatchObject({ rows: 2, usable: 1, emptyOutput: 1 });
    await expect(caller(owner1).train.start({ dataset: { kind: "upload", id: up.id }, config: { prompt_template: "{title}", output_column: "label" } })).rejects.toThrow(/^dataset: reviews\.csv\.gz has no usable row: of 2 rows, 2 missing column "title"/);
    await caller(owner1).train.deleteDataset({ id: up.id });
    expect((await caller(owner1).train.datasets()).uploads).toEqual([]);
  });

  it("runs one at a time: a second start queues, someone else cannot cancel, the owner can", async () => {
    const a = await caller(owner1).train.start({ dataset: { kind: "demo", task: "sentiment" }, config: LONG });
    await manager.idle();
    expect((await getTrainRun(h.db, { id: a.id }))!.status).toBe("running");
    const b = await caller(owner2).train.start({ dataset: { kind: "demo", task: "sentiment" }, config: SHORT });
    expect(b).toMatchObject({ status: "queued", position: 1, mine: true, canCancel: true, totalSteps: 4 });
    const list = await caller(owner2).train.runs();
    expect(list.runningId).toBe(a.id);
    expect(list.runs.find((r) => r.id === a.id)).toMatchObject({ mine: false, canCancel: false, status: "running" });
    await expect(caller(owner2).train.cancel({ runId: a.id })).rejects.toThrow(/^runId: training run #\d+ was started by someone else/);
    // a third queues behind it; the admin may cancel anyone's
    const c3 = await caller(owner1).train.start({ dataset: { kind: "demo", task: "sentiment" }, config: SHORT });
    expect(c3).toMatchObject({ status: "queued", position: 2 });
    expect(await caller(null, true).train.cancel({ runId: c3.id })).toMatchObject({ status: "cancelled", mine: false });
    expect((await caller(owner2).train.run({ id: b.id })).run.position).toBe(1);
    // an upload cannot be removed under a queued run
    const up = await storeDatasetUpload(h.db, { ownerId: owner1, fileName: "r.jsonl", bytes: Buffer.from('{"review":"fine","label":"positive"}\n'), dataDir });
    const d = await caller(owner1).train.start({ dataset: { kind: "upload", id: up.id }, config: { ...SHORT, prompt_template: "{review}", output_column: "label" } });
    expect(d).toMatchObject({ status: "queued", position: 2, datasetName: "r.jsonl", taskCard: null });
    await expect(caller(owner1).train.deleteDataset({ id: up.id })).rejects.toThrow(new RegExp(`^id: training run #${d.id} still uses this dataset`));
    await caller(owner1).train.cancel({ runId: d.id });
    await caller(owner1).train.deleteDataset({ id: up.id });
    // an owner holds at most 3 places (queued or running)
    const more = [await caller(owner1).train.start({ dataset: { kind: "demo", task: "sentiment" }, config: SHORT }), await caller(owner1).train.start({ dataset: { kind: "demo", task: "sentiment" }, config: SHORT })];
    await expect(caller(owner1).train.start({ dataset: { kind: "demo", task: "sentiment" }, config: SHORT })).rejects.toThrow(/^you already have 3 training runs queued or running \(at most 3\)/);
    for (const m of more) await caller(owner1).train.cancel({ runId: m.id });
    // the demo task's split with another template: no task card (its eval renders the card's template)
    const custom = await caller(owner2).train.start({ dataset: { kind: "demo", task: "sentiment" }, config: { ...SHORT, prompt_template: "Review: {review}\nSentiment:" } });
    expect(custom).toMatchObject({ status: "queued", taskCard: null });
    await caller(owner2).train.cancel({ runId: custom.id });

    // the owner cancels it once it trains
    await follow(caller(owner1), a.id, (e) => e.run.step >= 1);
    const cancelled = await caller(owner1).train.cancel({ runId: a.id });
    expect(cancelled.status).toBe("cancelled");
    expect(fs.existsSync(path.join(dataDir, "train", "runs", String(a.id)))).toBe(false);
    await expect(caller(owner1).train.cancel({ runId: a.id })).rejects.toThrow(/is cancelled, not queued or running/);

    // the queued run starts next and trains to the end: adapter served, listed as trained here, evaluated
    const events = await follow(caller(owner2), b.id, () => false);
    const last = events[events.length - 1]!.run;
    expect(last.status, last.error ?? "").toBe("done");
    expect(last).toMatchObject({ step: 4, totalSteps: 4, adapterSlug: b.adapterSlug });
    const points = events.flatMap((e) => e.points);
    expect(points.map((p) => p.step)).toEqual([1, 2, 3, 4]);
    for (const p of points) expect(Number.isFinite(p.trainLoss) && p.trainLoss > 0).toBe(true);

    const dir = path.join(dataDir, "adapters", b.adapterSlug);
    const config = JSON.parse(fs.readFileSync(path.join(dir, "adapter_config.json"), "utf8")) as Record<string, unknown>;
    expect(config).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 8 });
    expect([...(config.target_modules as string[])].sort()).toEqual(["q_proj", "v_proj"]);
    expect(fs.statSync(path.join(dir, "adapter_model.safetensors")).size).toBeGreaterThan(1000);
    expect(fs.existsSync(path.join(dataDir, "train", "runs", String(b.id)))).toBe(false);

    const served = (await (await fetch(`${worker.url}/adapters`)).json()) as unknown;
    expect(JSON.stringify(served)).toContain(`"${b.adapterSlug}"`);
    const text = await generateText({ url: worker.url, protocol: "lorax" }, { prompt: "Review: a wonderful film\nSentiment:", adapterId: b.adapterSlug, maxNewTokens: 4 });
    expect(typeof text).toBe("string");

    const listed = (await listCatalogAdapters(h.db)).find((x) => x.slug === b.adapterSlug)!;
    expect(listed).toMatchObject({ collection: "user", ownerId: owner2, taskCard: "sentiment", trainedHere: { runId: b.id, datasetName: expect.stringContaining("train split") } });
    expect(listed.trainedHere!.config.adapter).toMatchObject({ r: 4, target_modules: ["q_proj", "v_proj"] });
    const viaRouter = await caller(owner2).catalog.bySlug({ slug: b.adapterSlug });
    expect(viaRouter).toMatchObject({ mine: true, trainedHere: { runId: b.id } });

    await manager.afterDone();
    const run = (await getTrainRun(h.db, { id: b.id }))!;
    expect(run.evalRunIds).toHaveLength(1);
    for (let i = 0; i < 600 && (await getEvalRun(h.db, { id: run.evalRunIds[0]! }))!.status === "running"; i++) await new Promise((r) => setTimeout(r, 500));
    expect((await getEvalRun(h.db, { id: run.evalRunIds[0]! }))!.status).toBe("done");
    const [result] = await listAdapterResults(h.db, { slug: b.adapterSlug });
    expect(result).toMatchObject({ n: evalLimit ?? 500, metric: expect.any(String) });
    expect(result!.baseScore).not.toBeNull();
    if (evalLimit === null) {
      // a full split of its own task: the catalog shows the adapter's and the base model's scores
      const figures = (await listCatalogAdapters(h.db)).find((x) => x.slug === b.adapterSlug)!.metrics;
      expect(figures.map((f) => `${f.modelLabel}/${f.source}`).sort()).toEqual(["base/measured", "fine_tuned/measured"]);
      expect(figures.find((f) => f.modelLabel === "fine_tuned")!.value).toBeCloseTo(result!.score, 5);
    }
  }, 900_000);

  it.runIf(name === "postgres")("two servers on one Postgres each train one run; a cancel through the other server stops it", async () => {
    const other = newManager(); // a second web server's manager on the same database
    try {
      const a = await caller(owner1).train.start({ dataset: { kind: "demo", task: "sentiment" }, config: LONG });
      await manager.idle();
      const b = await caller(owner2).train.start({ dataset: { kind: "demo", task: "sentiment" }, config: LONG });
      expect(b.status).toBe("queued");
      other.pump();
      await other.idle();
      expect([manager.activeRunId(), other.activeRunId()]).toEqual([a.id, b.id]);
      await follow(caller(owner2), b.id, (e) => e.run.step >= 1);
      // cancelled through the first server: the second one sees its row at its next write and stops
      expect(await manager.cancel(b.id)).toBe(true);
      for (let i = 0; i < 600 && other.activeRunId() !== null; i++) await new Promise((r) => setTimeout(r, 100));
      expect(other.activeRunId()).toBeNull();
      expect((await getTrainRun(h.db, { id: b.id }))!.status).toBe("cancelled");
      expect(fs.existsSync(path.join(dataDir, "train", "runs", String(b.id)))).toBe(false);
      await caller(owner1).train.cancel({ runId: a.id });
    } finally {
      await other.stop();
    }
  }, 300_000);

  it("resumes a run left running by a crashed server from its checkpoint", async () => {
    const r = await caller(owner1).train.start({ dataset: { kind: "demo", task: "sentiment" }, config: RESUMABLE });
    await follow(caller(owner1), r.id, (e) => e.run.step >= 2);
    await manager.crash();
    expect((await getTrainRun(h.db, { id: r.id }))!.status).toBe("running");
    const at = JSON.parse(fs.readFileSync(path.join(dataDir, "train", "runs", String(r.id), "checkpoint", "state.json"), "utf8")) as { step: number };
    expect(at.step).toBeGreaterThanOrEqual(1);
    // the crashed server's last points never reached the database (its process died with them in
    // flight; CI saw step 4 of 40 go missing that way): the resumed run must put them back
    await h.db.delete(trainPoints).where(and(eq(trainPoints.runId, r.id), gte(trainPoints.step, Math.max(1, at.step - 1))));

    // a new process's manager on the same database and DATA_DIR (its lease ran out on Postgres)
    logs.length = 0;
    await new Promise((res) => setTimeout(res, 2500));
    manager = newManager();
    setTrainManager(h.db, manager);
    manager.pump();
    const events = await follow(caller(owner1), r.id, () => false);
    const last = events[events.length - 1]!.run;
    expect(last.status, last.error ?? "").toBe("done");
    expect(logs.join("\n")).toMatch(new RegExp(`run #${r.id}: resuming from its checkpoint at step ${at.step}`));
    expect((await listTrainPoints(h.db, { id: r.id })).map((p) => p.step)).toEqual([...Array(12).keys()].map((i) => i + 1));
    expect(fs.existsSync(path.join(dataDir, "adapters", r.adapterSlug, "adapter_model.safetensors"))).toBe(true);
    await manager.afterDone();
  }, 900_000);
});
