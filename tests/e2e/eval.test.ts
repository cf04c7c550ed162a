/**
 * The eval harness end to end, with the REAL worker on the bundled demo model:
 * - `npm run eval -- --limit 3` hands its results to the running web app (which owns the PGlite
 *   data directory), and the eval page in Chromium shows the run, the scores and the examples;
 * - the page's button starts a run and shows its live progress to the end;
 * - uploading a copy of a bundled adapter registers a runnable adapter that answers exactly as the
 *   original; broken uploads (bad config, truncated safetensors, another model's shapes) are
 *   rejected with a clear error and leave nothing in DATA_DIR/adapters.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateOnce, runEval, type EvalTask } from "../../server/eval/runner";
import { loadTaskCards, loadTestExamples } from "../../server/eval/tasks";
import { startWorker, type WorkerProcess } from "../../server/eval/worker-process";
import { browserAvailable, launchBrowser, ROOT, startWebServer, type WebServer } from "./browser";

const OUT = path.join(ROOT, "test-results");

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), path.join(ROOT, "scripts/eval.ts"), ...args], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function adapterDirs(dataDir: string): string[] {
  const dir = path.join(dataDir, "adapters");
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

async function upload(server: WebServer, id: string, config: Buffer | string, weights: Buffer): Promise<{ status: number; body: { id?: string; error?: string; code?: string } }> {
  const form = new FormData();
  form.set("id", id);
  form.set("adapter_config.json", new Blob([typeof config === "string" ? config : new Uint8Array(config)]), "adapter_config.json");
  form.set("adapter_model.safetensors", new Blob([new Uint8Array(weights)]), "adapter_model.safetensors");
  const res = await fetch(`${server.url}/api/adapters`, { method: "POST", body: form });
  return { status: res.status, body: (await res.json()) as { id?: string; error?: string; code?: string } };
}

const WORKER_BUILT = fs.existsSync(path.join(ROOT, "inference/cli/serve.ts"));
if (!WORKER_BUILT) process.stderr.write("\n!!!!! SKIPPING tests/e2e/eval.test.ts: inference/cli/serve.ts (the worker) is not there yet !!!!!\n\n");

describe.runIf(WORKER_BUILT && browserAvailable())("eval harness with the real worker, in Chromium", () => {
  let worker: WorkerProcess;
  let server: WebServer;
  // a stand-in for the Hugging Face Hub (no network here): /{repo}/resolve/{revision}/{file}
  // serves the bundled sentiment adapter as "someone/sentiment-copy"
  let hub: http.Server;
  let browser: Browser;
  let page: Page;
  // one DATA_DIR for the app and the worker: uploads land in DATA_DIR/adapters, which the worker may read
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-eval-e2e-"));

  beforeAll(async () => {
    fs.mkdirSync(OUT, { recursive: true });
    hub = http.createServer((req, res) => {
      const m = /^\/someone\/sentiment-copy\/resolve\/main\/(adapter_config\.json|adapter_model\.safetensors)$/.exec(req.url ?? "");
      if (!m) return void res.writeHead(404).end();
      res.writeHead(200).end(fs.readFileSync(path.join(ROOT, "data/demo/adapters/sentiment", m[1]!)));
    });
    await new Promise<void>((r) => hub.listen(0, "127.0.0.1", r));
    worker = await startWorker({
      root: ROOT,
      modelDir: path.join(ROOT, "data/demo/base"),
      adaptersDir: path.join(ROOT, "data/demo/adapters"),
      modelId: "loraland-mini",
      env: { DATA_DIR: dataDir, HF_ENDPOINT: `http://127.0.0.1:${(hub.address() as AddressInfo).port}` },
    });
    server = await startWebServer({ worker: { url: worker.url }, dataDir });
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await worker?.stop();
    await new Promise<void>((r) => (hub ? hub.close(() => r()) : r()));
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("npm run eval --limit 3 hands its run to the running app; the eval page shows it", { timeout: 300_000 }, async () => {
    const { code, stdout, stderr } = await runCli(["--adapters", "sql,sentiment", "--limit", "3", "--json", "--no-compare"], {
      INFERENCE_URL: worker.url,
      DATA_DIR: server.dataDir,
      PORT: String(server.port),
    });
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/stored as eval run #\d+ \(handed to the web app/);
    const rows = JSON.parse(stdout.trim().split("\n").at(-1)!) as { slug: string; metric: string; fine_tuned: number; base: number; n: number }[];
    expect(rows.map((r) => [r.slug, r.metric, r.n])).toEqual([["sql", "exact_match", 3], ["sentiment", "accuracy", 3]]);
    for (const r of rows) {
      expect(r.fine_tuned).toBeGreaterThanOrEqual(0);
      expect(r.fine_tuned).toBeLessThanOrEqual(1);
    }
    // the PGlite directory stayed the app's: the CLI never opened it
    expect(fs.existsSync(path.join(server.dataDir, "pglite"))).toBe(true);
    expect(stderr).not.toMatch(/MaxListenersExceeded/);

    await page.goto(`${server.url}/adapters/sql/eval`);
    await expect.poll(() => page.getByTestId("eval-run-row").count()).toBe(1);
    await expect(page.getByTestId("eval-run-origin").first().textContent()).resolves.toBe("command line");
    const sql = rows.find((r) => r.slug === "sql")!;
    await expect(page.getByTestId("score-fine-tuned").textContent()).resolves.toBe(`${(sql.fine_tuned * 100).toFixed(1)}%`);
    await expect(page.getByTestId("score-base").textContent()).resolves.toBe(`${(sql.base * 100).toFixed(1)}%`);
    await expect.poll(() => page.getByTestId("eval-example").count()).toBe(3);
    // each row's verdict matches the exact-match rule on what is shown
    const card = loadTaskCards().find((c) => c.slug === "sql")!;
    const refs = loadTestExamples(card, { limit: 3 }).map((e) => e.reference);
    const verdicts = await page.getByTestId("eval-example").evaluateAll((els) => els.map((e) => e.getAttribute("data-correct")));
    const predictions = await page.getByTestId("eval-prediction-text").allTextContents();
    verdicts.forEach((v, i) => expect(v === "true", predictions[i]).toBe(predictions[i] === refs[i]));
    // a 3-example run is history, not the catalog's headline figure (that takes the full test split)
    await page.goto(`${server.url}/adapters/sql`);
    await expect(page.locator("body").textContent()).resolves.toMatch(/Not measured here yet/);
  });

  it("the page's button runs an eval with live progress", { timeout: 300_000 }, async () => {
    await page.goto(`${server.url}/adapters/sentiment/eval`);
    await page.getByTestId("eval-limit").selectOption("5");
    await page.getByTestId("eval-start").click();
    await expect
      .poll(async () => (await page.getByTestId("eval-start-error").count()) ? `error: ${await page.getByTestId("eval-start-error").textContent()}` : page.getByTestId("eval-progress").getAttribute("data-status", { timeout: 1000 }).catch(() => null), { timeout: 240_000, interval: 500 })
      .toMatch(/^(done|failed|error: .*)$/);
    await expect(page.getByTestId("eval-progress").getAttribute("data-status")).resolves.toBe("done");
    await expect(page.getByTestId("eval-progress-count").textContent()).resolves.toBe("10/10 requests");
    await expect.poll(() => page.getByTestId("eval-run-row").count(), { timeout: 20_000 }).toBe(2);
    await expect.poll(() => page.getByTestId("eval-example").count()).toBe(5);
    await page.screenshot({ path: path.join(OUT, "eval-page.png"), fullPage: true });
  });

  it("an uploaded copy of a bundled adapter is registered and answers as the original; broken uploads leave nothing behind", { timeout: 300_000 }, async () => {
    const dir = path.join(ROOT, "data/demo/adapters/sql");
    const config = fs.readFileSync(path.join(dir, "adapter_config.json"));
    const weights = fs.readFileSync(path.join(dir, "adapter_model.safetensors"));

    const badConfig = await upload(server, "broken-config", "{ not json", weights);
    expect(badConfig.status).toBe(422);
    expect(badConfig.body.error).toMatch(/adapter_config\.json is not valid JSON/);
    const truncated = await upload(server, "broken-weights", config, weights.subarray(0, weights.length - 4096));
    expect(truncated.status).toBe(422);
    expect(truncated.body.error).toMatch(/truncated/);
    const tiny = path.join(ROOT, "tests/data/fixtures/tiny-llama/adapters/all-r16");
    const wrong = await upload(server, "wrong-shapes", fs.readFileSync(path.join(tiny, "adapter_config.json")), fs.readFileSync(path.join(tiny, "adapter_model.safetensors")));
    expect(wrong.status).toBe(422);
    expect(wrong.body.error).toMatch(/the base model needs/);
    expect(adapterDirs(server.dataDir)).toEqual([]);

    // the valid one through the browser form
    await page.goto(`${server.url}/adapters/new`);
    await page.getByTestId("upload-id").fill("my-sql");
    await page.getByTestId("upload-task").selectOption("sql");
    await page.getByTestId("upload-files").setInputFiles([path.join(dir, "adapter_config.json"), path.join(dir, "adapter_model.safetensors")]);
    await page.getByTestId("upload-submit").click();
    await expect.poll(() => page.getByTestId("upload-ok").count(), { timeout: 60_000 }).toBe(1);
    expect(adapterDirs(server.dataDir)).toEqual(["my-sql"]);

    const again = await upload(server, "my-sql", config, weights);
    expect(again.status).toBe(409);

    const prompt = loadTestExamples(loadTaskCards().find((c) => c.slug === "sql")!, { limit: 1 })[0]!.prompt;
    const original = await generateOnce({ url: worker.url, protocol: "lorax" }, prompt, "sql", 40);
    const copy = await generateOnce({ url: worker.url, protocol: "lorax" }, prompt, "my-sql", 40);
    expect(copy.text).toBe(original.text);

    // and it is in the catalog, evaluable on its task: from the command line (id:task) and shown on its page
    await page.goto(`${server.url}/adapters/my-sql/eval`);
    await expect(page.getByTestId("eval-empty").count()).resolves.toBe(1);
    const cli = await runCli(["--adapters", "my-sql:sql", "--limit", "2", "--json", "--no-compare"], { INFERENCE_URL: worker.url, DATA_DIR: server.dataDir, PORT: String(server.port) });
    expect(cli.code, cli.stderr).toBe(0);
    const [mine] = JSON.parse(cli.stdout.trim().split("\n").at(-1)!) as { slug: string; metric: string; n: number }[];
    expect(mine).toMatchObject({ slug: "my-sql", metric: "exact_match", n: 2 });
    await page.reload();
    await expect.poll(() => page.getByTestId("eval-example").count()).toBe(2);
  });

  it("registers an adapter by Hub repo id through the worker; an unknown repo is refused and leaves no catalog entry", { timeout: 300_000 }, async () => {
    const post = (body: unknown) => fetch(`${server.url}/api/adapters`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const ok = await post({ repo: "someone/sentiment-copy", id: "hub-sentiment", task: "sentiment" });
    expect(ok.status, await ok.clone().text()).toBe(201);
    const prompt = loadTestExamples(loadTaskCards().find((c) => c.slug === "sentiment")!, { limit: 1 })[0]!.prompt;
    const [a, b] = await Promise.all(["sentiment", "hub-sentiment"].map((id) => generateOnce({ url: worker.url, protocol: "lorax" }, prompt, id, 4)));
    expect(b!.text).toBe(a!.text);

    const missing = await post({ repo: "someone/not-there", id: "nope" });
    expect(missing.status).toBe(422);
    expect(((await missing.json()) as { error: string }).error).toMatch(/the worker refused the adapter/);
    const bad = await post({ repo: "not a repo" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^repo:/);
    await expect(fetch(`${server.url}/adapters/nope`).then((r) => r.status)).resolves.toBe(404);
    await expect(fetch(`${server.url}/adapters/hub-sentiment/eval`).then((r) => r.status)).resolves.toBe(200);
  });

  it("the OpenAI protocol (/v1/completions) gives the same predictions and scores as LoRAX /generate", { timeout: 300_000 }, async () => {
    const cards = loadTaskCards();
    const tasks: EvalTask[] = ["ner", "e2e"].map((slug) => {
      const card = cards.find((c) => c.slug === slug)!;
      return { slug, card, adapterId: slug, examples: loadTestExamples(card, { limit: 3 }) };
    });
    const lorax = await runEval({ endpoint: { url: worker.url, protocol: "lorax" }, tasks, concurrency: 8 });
    const openai = await runEval({ endpoint: { url: worker.url, protocol: "openai", baseModelId: "loraland-mini" }, tasks, concurrency: 8 });
    const view = (o: typeof lorax) => o.results.map((r) => ({ slug: r.slug, fineTuned: r.fineTuned, base: r.base, predictions: r.examples.map((e) => [e.prediction, e.basePrediction]) }));
    expect(view(openai)).toEqual(view(lorax));
    // the adapters beat the base model even on three rows
    for (const r of lorax.results) expect(r.fineTuned).toBeGreaterThan(r.base!);
  });
});
