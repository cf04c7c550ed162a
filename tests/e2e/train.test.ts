/**
 * /train end to end, as a newcomer drives it: the production server with its built-in worker on
 * the bundled model (`npm start`'s supervisor), real Chromium, the real training child process.
 * - picks the sentiment example in one click; the preview renders its prompts with token counts
 *   and counts the rows; a refused value (epochs 0) and a template with no usable row name
 *   the field / the problem;
 * - the form starts from the sentiment recipe; a first run (the whole train split) trains; a
 *   second, short one (256 rows, 1 epoch, r=4, a validation split) queues behind it, and the page shows its place in line; the first is
 *   cancelled from another tab's Cancel button; the short one then trains while its page stays
 *   open, so every loss point it shows came through the progress subscription, validation too;
 * - when it is done: the adapter link, the eval against the base model on the test split, the
 *   catalog card "trained here", the adapter page's config, and Compare with base opens /compare
 *   with the new adapter and the base model, which both answer;
 * - screenshots of /train with the finished run: desktop and 390 px, light and dark, nothing wider
 *   than the viewport.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserAvailable, launchBrowser, ROOT, startWebServer, type WebServer } from "./browser";

const SHOTS = path.join(ROOT, "test-results/e2e");
const WORKER_BUILT = fs.existsSync(path.join(ROOT, "inference/cli/serve.ts"));

async function attr(page: Page, testId: string, name: string): Promise<string | null> {
  const el = page.getByTestId(testId).first();
  return (await el.count()) ? el.getAttribute(name) : null;
}

describe.runIf(WORKER_BUILT && browserAvailable())("/train: a newcomer trains an adapter and compares it with the base model", () => {
  let server: WebServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    server = await startWebServer({ worker: "builtin", timeoutMs: 240_000 });
    // the built-in worker loads the model after the web server answers
    const deadline = Date.now() + 240_000;
    for (;;) {
      const res = await fetch(`${server.url}/api/trpc/status.health`).catch(() => null);
      const health = res?.ok ? ((await res.json()) as { result: { data: { json: { ready: boolean } } } }).result.data.json : null;
      if (health?.ready) break;
      if (Date.now() > deadline) throw new Error(`the worker did not get ready:\n${server.output()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // an uncaught error or a hydration mismatch on any page of this context fails the test (the
    // refusals it provokes on purpose are answers, not page errors)
    context.on("page", (p) => p.on("pageerror", (e) => pageErrors.push(`${p.url()}: ${e.message}`)));
    page = await context.newPage();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("uploads a CSV and a gzipped JSONL: progress, columns, a guessed template, dropped rows counted; bad files refused naming the dataset", { timeout: 300_000 }, async () => {
    const p = await context.newPage();
    // a run that does not exist: said in its place, the rest of the page works
    await p.goto(`${server.url}/train?run=99999`);
    await expect.poll(() => p.getByTestId("train-run-missing").textContent(), { timeout: 60_000 }).toBe("id: no training run #99999");
    await p.getByTestId("train-demo-sentiment").waitFor();
    await p.goto(`${server.url}/train`);
    // 4 rows: 2 usable, 1 with an empty answer, 1 without the answer column
    const csv = 'text,label\n"Great, loved it",positive\nTerrible,negative\nMeh,\nShort\n';
    await p.getByTestId("train-upload-input").setInputFiles({ name: "reviews.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    const choice = p.getByTestId("train-upload-choice").filter({ hasText: "reviews.csv" });
    await expect.poll(() => choice.getAttribute("aria-pressed"), { timeout: 60_000 }).toBe("true");
    const progress = p.getByTestId("train-upload-progress");
    expect(await progress.getAttribute("data-loaded")).toBe(String(csv.length));
    expect(await progress.getAttribute("data-total")).toBe(String(csv.length));
    expect(await p.getByTestId("cfg-output_column").inputValue()).toBe("label");
    expect(await p.getByTestId("cfg-prompt_template").inputValue()).toBe("text: {text}\nlabel:");
    await expect.poll(() => attr(p, "train-accounting", "data-rows"), { timeout: 60_000 }).toBe("4");
    expect(await attr(p, "train-accounting", "data-usable")).toBe("2");
    const dropped = await p.getByTestId("train-dropped").textContent();
    expect(dropped).toContain("2 dropped");
    expect(dropped).toContain("1 missing “label”");
    expect(dropped).toContain("1 with an empty answer");
    expect(await p.getByTestId("train-preview-row").evaluateAll((els) => els.map((e) => e.getAttribute("data-status")))).toEqual(["ok", "ok", "empty_output"]);
    expect(await p.getByTestId("train-preview-row").first().textContent()).toContain("text: Great, loved it");

    // the same rows as gzipped JSONL
    const jsonl = ['{"text":"Great","label":"positive"}', '{"text":"Bad","label":"negative"}', "not json"].join("\n");
    await p.getByTestId("train-upload-input").setInputFiles({ name: "reviews.jsonl.gz", mimeType: "application/gzip", buffer: gzipSync(jsonl) });
    await expect.poll(() => p.getByTestId("train-upload-choice").filter({ hasText: "reviews.jsonl.gz" }).getAttribute("aria-pressed"), { timeout: 60_000 }).toBe("true");
    await expect.poll(() => attr(p, "train-accounting", "data-rows"), { timeout: 60_000 }).toBe("3");
    expect(await attr(p, "train-accounting", "data-usable")).toBe("2");
    expect(await p.getByTestId("train-dropped").textContent()).toContain("1 not a JSON object");

    // refused before sending: the format, and the 50 MB limit
    await p.getByTestId("train-upload-input").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("hello") });
    expect(await p.getByTestId("train-dataset-error").textContent()).toBe("dataset: notes.txt is not .csv or .jsonl (optionally .gz)");
    const bigDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-train-big-"));
    const big = path.join(bigDir, "big.jsonl");
    fs.writeFileSync(big, "");
    fs.truncateSync(big, 51_000_000); // sparse: 51 MB of zero bytes
    try {
      await p.getByTestId("train-upload-input").setInputFiles(big);
      expect(await p.getByTestId("train-dataset-error").textContent()).toBe("dataset: big.jsonl is 51.0 MB, over the 50.0 MB limit");
    } finally {
      fs.rmSync(bigDir, { recursive: true, force: true });
    }
    // refused by the server: a file with no rows names the file part
    await p.getByTestId("train-upload-input").setInputFiles({ name: "empty.csv", mimeType: "text/csv", buffer: Buffer.from("a,b\n") });
    await expect.poll(() => p.getByTestId("train-dataset-error").textContent(), { timeout: 60_000 }).toMatch(/^file: empty\.csv has no rows$/);

    // an upload can be removed
    await p.getByRole("button", { name: "Remove reviews.csv" }).click();
    await expect.poll(() => p.getByTestId("train-upload-choice").filter({ hasText: "reviews.csv" }).count()).toBe(0);
    expect(await p.getByTestId("train-upload-choice").filter({ hasText: "reviews.jsonl.gz" }).count()).toBe(1);
    await p.close();
    expect(pageErrors).toEqual([]);
  });

  it("sentiment example → a short run queued, trained live, scored, listed as trained here, compared with base", { timeout: 1_200_000 }, async () => {
    await page.goto(`${server.url}/train`);
    await expect(page.getByTestId("train-base-model").textContent()).resolves.toContain("loraland-mini");
    await page.getByTestId("train-demo-sentiment").click();
    expect(await page.getByTestId("cfg-prompt_template").inputValue()).toContain("{review}");
    expect(await page.getByTestId("cfg-output_column").inputValue()).toBe("output");
    // the defaults are the recipe the bundled sentiment adapter was trained with
    expect(await page.getByTestId("train-recipe").textContent()).toContain("inference/train/recipes/sentiment.yaml");
    for (const [field, value] of [["adapter.r", "16"], ["adapter.alpha", "32"], ["trainer.learning_rate", "0.002"], ["trainer.batch_size", "64"], ["trainer.warmup_steps", "30"], ["trainer.epochs", "6"]]) {
      expect(await page.getByTestId(`cfg-${field}`).inputValue(), field).toBe(value);
    }
    expect(await page.locator('[data-testid^="cfg-module-"]:checked').count()).toBe(7);

    // the preview: rendered prompts with their token counts, and the whole split's row accounting
    await expect.poll(() => attr(page, "train-accounting", "data-rows"), { timeout: 120_000 }).toBe("8000");
    expect(await attr(page, "train-accounting", "data-usable")).toBe("8000");
    const firstRow = page.getByTestId("train-preview-row").first();
    expect(await firstRow.getAttribute("data-status")).toBe("ok");
    expect(await firstRow.textContent()).toContain("Review: ");
    expect(await firstRow.getByTestId("train-preview-tokens").textContent()).toMatch(/^\d+ prompt \+ \d+ answer tokens$/);

    // a column the file does not have: every row is dropped, counted by reason, and Start refuses naming the problem
    const template = await page.getByTestId("cfg-prompt_template").inputValue();
    await page.getByTestId("cfg-prompt_template").fill(template.replace("{review}", "{text}"));
    await expect.poll(() => attr(page, "train-accounting", "data-usable"), { timeout: 120_000 }).toBe("0");
    expect(await page.getByTestId("train-template-changed").textContent()).toContain("will not be scored on the test split");
    expect(await page.getByTestId("train-dropped").textContent()).toContain("8,000 missing “text”");
    await page.getByTestId("train-start").click();
    await expect.poll(() => page.getByTestId("train-start-error").textContent()).toMatch(/^dataset: .*no usable row/);
    await page.getByTestId("cfg-prompt_template").fill(template);
    await expect.poll(() => attr(page, "train-accounting", "data-usable"), { timeout: 120_000 }).toBe("8000");
    expect(await page.getByTestId("train-template-changed").count()).toBe(0);

    // a value the engine refuses: the field is marked with the server's message
    await page.getByTestId("cfg-trainer.epochs").fill("0");
    await page.getByTestId("train-start").click();
    await expect.poll(() => attr(page, "train-start-error", "data-field")).toBe("trainer.epochs");
    expect(await page.locator('[data-testid="field-error"][data-field="trainer.epochs"]').textContent()).toMatch(/^trainer\.epochs: /);
    expect(await page.getByTestId("cfg-trainer.epochs").getAttribute("aria-invalid")).toBe("true");

    // run 1: the whole split, one epoch (minutes): it holds the server's one training slot
    await page.getByTestId("cfg-trainer.epochs").fill("1");
    await page.getByTestId("cfg-adapter.r").fill("4");
    await page.getByTestId("cfg-trainer.warmup_steps").fill("0");
    await page.getByTestId("train-name").fill("sentiment-long");
    await page.getByTestId("train-start").click();
    await page.waitForURL(/\/train\?run=\d+$/);
    const longId = Number(new URL(page.url()).searchParams.get("run"));
    await expect.poll(() => attr(page, "train-run", "data-run-id")).toBe(String(longId));
    await expect.poll(() => attr(page, "train-run", "data-status"), { timeout: 120_000 }).toBe("running");

    // run 2: the short one, queued behind it
    await page.getByTestId("cfg-trainer.max_examples").fill("256");
    await page.getByTestId("cfg-trainer.batch_size").fill("16");
    await page.getByTestId("cfg-trainer.validation_split").fill("0.01");
    await page.getByTestId("train-name").fill("sentiment-tiny");
    await page.getByTestId("train-start").click();
    await page.waitForURL((u) => u.searchParams.get("run") !== String(longId));
    const id = Number(new URL(page.url()).searchParams.get("run"));
    await expect.poll(() => attr(page, "train-run", "data-run-id")).toBe(String(id));
    expect(await attr(page, "train-run", "data-status")).toBe("queued");
    expect(await page.getByTestId("train-queue-position").textContent()).toContain("number 1 in line");
    expect(await page.locator(`[data-testid="train-run-row"][data-run-id="${id}"]`).getAttribute("data-status")).toBe("queued");

    // another tab cancels run 1 with its Cancel button
    const other = await context.newPage();
    await other.goto(`${server.url}/train?run=${longId}`);
    await other.getByTestId("train-cancel").waitFor();
    await other.screenshot({ path: path.join(SHOTS, "train-running.png") });
    await other.getByTestId("train-cancel").click();
    await expect.poll(() => attr(other, "train-run", "data-status"), { timeout: 120_000 }).toBe("cancelled");
    await other.close();

    // run 2 trains in the page that showed it queued: its points, status and figures arrive live
    await expect.poll(() => attr(page, "train-run", "data-status"), { timeout: 120_000 }).toMatch(/^(running|done)$/);
    await expect.poll(() => attr(page, "train-run", "data-status"), { timeout: 600_000, interval: 1000 }).toBe("done");
    // 256 rows (after holding out 1% of 8000 for validation) in batches of 16, one epoch: 16 steps
    expect(await page.getByTestId("train-step").textContent()).toContain("step 16 of 16");
    expect(await attr(page, "loss-chart", "data-points")).toBe("16");
    expect(await attr(page, "loss-chart", "data-val-points")).toBe("1");
    expect(await page.getByTestId("train-loss").textContent()).toMatch(/^\d+\.\d{3}$/);
    expect(await page.getByTestId("train-val-loss").textContent()).toMatch(/^\d+\.\d{3}$/);
    expect(await page.getByTestId("train-tokens-per-s").textContent()).toMatch(/^[\d,.]+$/);

    // the adapter, scored by the harness on the test split with the base model beside it
    expect(await page.getByTestId("train-adapter-link").getAttribute("href")).toBe("/adapters/sentiment-tiny");
    const compareHref = await page.getByTestId("train-compare-link").getAttribute("href");
    expect(compareHref).toBe("/compare?adapters=sentiment-tiny,base");
    await expect.poll(() => attr(page, "train-eval", "data-state"), { timeout: 600_000, interval: 2000 }).toBe("scored");
    expect(await page.getByTestId("score-fine-tuned").textContent()).toMatch(/^\d+\.\d%$/);
    expect(await page.getByTestId("score-base").textContent()).toMatch(/^\d+\.\d%$/);
    const [ft, base] = [await page.getByTestId("score-fine-tuned").textContent(), await page.getByTestId("score-base").textContent()].map((t) => parseFloat(t!));
    const lift = await page.getByTestId("train-eval-lift").textContent();
    if (ft! > base!) {
      const by = /^Beats the base model by (\d+\.\d) points on the held-out test split\.$/.exec(lift!);
      expect(by, lift!).not.toBeNull();
      expect(Math.abs(parseFloat(by![1]!) - (ft! - base!))).toBeLessThanOrEqual(0.11); // both from rounded figures
    } else expect(lift).toMatch(/^(Trails|Ties) the base model/);
    process.stderr.write(`[train e2e] 256-row adapter ${ft}% vs base ${base}% on the sentiment test split\n`);

    for (const [label, opts] of [
      ["desktop-light", { viewport: { width: 1280, height: 900 }, colorScheme: "light" as const }],
      ["desktop-dark", { viewport: { width: 1280, height: 900 }, colorScheme: "dark" as const }],
      ["phone-light", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: "light" as const }],
      ["phone-dark", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: "dark" as const }],
    ] as const) {
      const shot = await browser.newContext({ ...opts, storageState: await context.storageState() });
      const p = await shot.newPage();
      p.on("pageerror", (e) => pageErrors.push(`${label} ${p.url()}: ${e.message}`));
      await p.goto(`${server.url}/train?run=${id}`);
      await p
        .getByTestId("train-eval")
        .getByTestId("score-base")
        .waitFor({ timeout: 60_000 })
        .catch(async (err: unknown) => {
          await p.screenshot({ path: path.join(SHOTS, `train-${label}-failed.png`), fullPage: true });
          throw new Error(`${label}: no score on the run page: ${(err as Error).message}\n${await p.locator("#train-run-panel").innerText().catch(() => "(no run panel)")}`);
        });
      await p.getByTestId("train-demo-sentiment").click();
      await p.getByTestId("train-preview-row").first().waitFor({ timeout: 120_000 });
      await p.evaluate(() => window.scrollTo(0, 0));
      expect(await p.evaluate(() => document.documentElement.scrollWidth), label).toBeLessThanOrEqual(opts.viewport.width);
      await p.screenshot({ path: path.join(SHOTS, `train-${label}.png`), fullPage: true });
      // the top: the finished run whole (what docs/screenshots/train*.png show)
      await p.screenshot({ path: path.join(SHOTS, `train-${label}-top.png`), fullPage: true, clip: { x: 0, y: 0, width: opts.viewport.width, height: opts.viewport.width < 500 ? 1300 : 1000 } });
      await shot.close();
    }

    // the catalog lists it as trained here; its page shows the config it was trained with
    await page.goto(`${server.url}/`);
    const card = page.locator('[data-testid="adapter-card"][data-slug="sentiment-tiny"]');
    await card.waitFor();
    expect(await card.getByTestId("trained-here").getAttribute("href")).toBe(`/train?run=${id}`);
    expect(await card.getByTestId("run-badge").getAttribute("data-state")).toBe("runnable");
    await card.screenshot({ path: path.join(SHOTS, "train-catalog-card.png") });
    expect(await page.locator('[data-testid="adapter-card"][data-slug="sentiment-long"]').count()).toBe(0);
    await page.goto(`${server.url}/adapters/sentiment-tiny`);
    expect(await page.getByTestId("trained-here-detail").textContent()).toContain(`run #${id}`);
    const config = await page.getByTestId("trained-here-config").textContent();
    expect(config).toContain("  r: 4");
    expect(config).toContain("  max_examples: 256");
    await page.screenshot({ path: path.join(SHOTS, "train-adapter-page.png"), fullPage: true });

    // Compare with base: the new adapter and the base model side by side, both answer
    await page.goto(`${server.url}/train?run=${id}`);
    await page.getByTestId("train-compare-link").click();
    await page.waitForURL(/\/compare\?/);
    await expect.poll(() => page.getByTestId("pane-model-0").inputValue()).toBe("sentiment-tiny");
    expect(await page.getByTestId("pane-model-1").inputValue()).toBe("base");
    const review = page.getByTestId("input-review");
    if ((await review.inputValue()) === "") await review.fill("The acting was superb and the plot kept me hooked.");
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await page.click('[data-testid="run"]');
    const panes = page.locator('[data-testid="compare-pane"]');
    await expect
      .poll(async () => (await panes.evaluateAll((els) => els.map((e) => e.getAttribute("data-status")))).join(","), { timeout: 120_000 })
      .toBe("done,done");
    expect(pageErrors).toEqual([]);
  });
});
