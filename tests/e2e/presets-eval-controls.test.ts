/**
 * Issue 14 items 13-14 in Chromium against the production server and the REAL worker:
 * - a preset is saved from the playground, survives a reload, loads back into the form; the answer
 *   gets a thumbs up, which the history shows and exports;
 * - an eval run over the full split is cancelled from the eval page: the page says cancelled, the
 *   run is listed as cancelled with its partial n and a bootstrap interval, and two runs compare.
 * Screenshots of the pages on desktop and a 390 px phone, light and dark (no sideways scroll,
 * no console errors).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type WorkerProcess } from "../../server/eval/worker-process";
import { browserAvailable, launchBrowser, ROOT, startWebServer, type WebServer } from "./browser";
import { realWorkerAvailable, screenshotDir } from "./playground-harness";

function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  return errors;
}

/** The worker's processes (tsx's parent and the node child serving): SIGSTOP holds every answer back. */
function signalTree(pid: number, signal: NodeJS.Signals) {
  let out = "";
  try {
    out = execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" });
  } catch {} // ps exits 1 when there are no children
  const kids = out.split("\n").map((s) => Number(s.trim())).filter((n) => n > 0);
  for (const k of kids) signalTree(k, signal);
  process.kill(pid, signal);
}

const VIEWS = [
  ["desktop-light", { viewport: { width: 1400, height: 1000 }, colorScheme: "light" as const }],
  ["desktop-dark", { viewport: { width: 1400, height: 1000 }, colorScheme: "dark" as const }],
  ["phone-light", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: "light" as const }],
  ["phone-dark", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: "dark" as const }],
] as const;

describe.runIf(browserAvailable() && realWorkerAvailable())("presets, feedback and eval controls (browser, real worker)", () => {
  let worker: WorkerProcess;
  let web: WebServer;
  let browser: Browser;
  // the first test's owner (cookie), so the phone and dark views see its history
  let owner: Awaited<ReturnType<import("playwright-core").BrowserContext["storageState"]>> | undefined;
  const shots = process.env.H8_SHOTS ?? screenshotDir();
  beforeAll(async () => {
    fs.mkdirSync(shots, { recursive: true });
    worker = await startWorker({ root: ROOT, modelDir: path.join(ROOT, "data/demo/base"), adaptersDir: path.join(ROOT, "data/demo/adapters"), modelId: "loraland-mini" });
    web = await startWebServer({ worker: { url: worker.url }, env: process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : undefined });
    browser = await launchBrowser();
  }, 900_000);
  afterAll(async () => {
    // the server's log, for a failure's story
    if (web) fs.writeFileSync(path.join(shots, "presets-eval-controls-web.log"), web.output());
    await browser?.close();
    await web?.stop();
    await worker?.stop();
  });

  it("saves a preset, reloads, loads it, rates the answer thumbs up and finds it in the export", async () => {
    const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
    const page = await ctx.newPage();
    const errors = watchErrors(page);
    const name = `sql raw ${Date.now()}`;
    const prompt = `-- preset ${Date.now()}\nTranslate the question into an SQL query for the table.\n\nTable: players (name, team, position, age, goals)\nQuestion: How many players have goals greater than 9?\nSQL:`;
    await page.goto(`${web.url}/playground?adapter=sql&mode=raw&prompt=${encodeURIComponent(prompt)}&p.max_new_tokens=7`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    // what the save answered, for a failure's message
    const saves: string[] = [];
    page.on("response", (r) => {
      if (r.url().includes("presets.")) void r.text().then((t) => saves.push(`${r.status()} ${r.url().replace(web.url, "")} ${t.slice(0, 300)}`), () => saves.push(`${r.status()} (no body)`));
    });
    // which owner each call went as, and every owner cookie a response set (a fresh visit must keep one owner)
    const owners: string[] = [];
    page.on("request", (r) => void r.allHeaders().then((h) => owners.push(`${r.url().replace(web.url, "").slice(0, 60)} as ${/owner=([0-9a-f]{8})/.exec(h.cookie ?? "")?.[1] ?? "-"}`)));
    page.on("response", (r) => void r.allHeaders().then((h) => h["set-cookie"]?.includes("owner=") && owners.push(`SET by ${r.url().replace(web.url, "").slice(0, 60)}: ${/owner=([0-9a-f]{8})/.exec(h["set-cookie"])?.[1]}`)));
    await page.getByTestId("preset-save").click();
    await page.getByTestId("preset-name").fill(name);
    await page.getByTestId("preset-name-save").click();
    // saved: the list has it (an error would say why not)
    const presetState = async () =>
      (await page.getByTestId("preset-error").count()) ? `error: ${await page.getByTestId("preset-error").textContent()}` : `${await page.getByTestId("preset-select").locator("option", { hasText: name }).count()} saved`;
    try {
      await expect.poll(presetState, { timeout: 30_000 }).toBe("1 saved");
    } catch (e) {
      const options = await page.getByTestId("preset-select").locator("option").evaluateAll((os) => os.map((o) => `${(o as HTMLOptionElement).value}=${o.textContent}`));
      await page.screenshot({ path: path.join(shots, "preset-save-failure.png") });
      throw new Error(`${(e as Error).message}; preset calls: ${JSON.stringify(saves)}; options: ${JSON.stringify(options)}; form open: ${await page.getByTestId("preset-name").count()}; owners: ${JSON.stringify(owners)}`);
    }

    // a fresh page: the form is the default one until the preset is loaded
    await page.goto(`${web.url}/playground?adapter=ner`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    expect(await page.getByTestId("model-select").inputValue()).toBe("ner");
    const option = page.getByTestId("preset-select").locator("option", { hasText: name });
    await page.getByTestId("preset-select").selectOption((await option.getAttribute("value"))!);
    await page.getByTestId("preset-load").click();
    await expect.poll(() => page.getByTestId("model-select").inputValue()).toBe("sql");
    expect(await page.getByTestId("raw-prompt").inputValue()).toBe(prompt);
    expect(await page.getByTestId("param-max_new_tokens").inputValue()).toBe("7");
    expect(await page.getByTestId("mode-raw").getAttribute("aria-selected")).toBe("true");

    await page.getByTestId("run").click();
    const pane = page.getByTestId("output-pane");
    await expect.poll(() => pane.getAttribute("data-status"), { timeout: 120_000 }).toBe("done");
    await pane.getByTestId("thumbs-up").click();
    await expect.poll(() => pane.getByTestId("feedback").getAttribute("data-rating")).toBe("up");
    await page.screenshot({ path: path.join(shots, "presets-playground-desktop-light.png"), fullPage: true });

    // the history shows it, and exports it
    await page.goto(`${web.url}/chats`);
    await page.locator('[data-testid="history-item"]', { hasText: "-- preset" }).first().click();
    const gen = page.getByTestId("chat-generation");
    await expect.poll(() => gen.getByTestId("feedback").getAttribute("data-rating"), { timeout: 20_000 }).toBe("up");
    // the stored SQL answer is highlighted as SQL here too (the catalog row behind the adapter id)
    await expect.poll(() => gen.getByTestId("stream-output").getAttribute("data-kind")).toBe("sql");
    const [json] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-json").click()]);
    const doc = JSON.parse(fs.readFileSync((await json.path())!, "utf8")) as { turns: { prompt: string; outputs: { feedback: string | null; adapterId: string }[] }[] };
    expect(doc.turns[0]!.prompt).toBe(prompt);
    expect(doc.turns[0]!.outputs[0]).toMatchObject({ adapterId: "sql", feedback: "up" });
    const [md] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-md").click()]);
    expect(fs.readFileSync((await md.path())!, "utf8")).toContain("Feedback: 👍 thumbs up");
    // toggled off here, it is gone from the export too
    await gen.getByTestId("thumbs-up").click();
    await expect.poll(() => gen.getByTestId("feedback").getAttribute("data-rating")).toBe("none");
    const [json2] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-json").click()]);
    expect((JSON.parse(fs.readFileSync((await json2.path())!, "utf8")) as typeof doc).turns[0]!.outputs[0]!.feedback).toBeNull();
    await gen.getByTestId("thumbs-up").click();
    await expect.poll(() => gen.getByTestId("feedback").getAttribute("data-rating")).toBe("up");
    await page.screenshot({ path: path.join(shots, "presets-chat-desktop-light.png"), fullPage: true });
    expect(errors).toEqual([]);
    owner = await ctx.storageState();
    await ctx.close();
  }, 300_000);

  it("cancels a running eval from the page; the partial run is listed cancelled, with intervals, and compares", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = watchErrors(page);
    // a short finished run first, to compare with
    await page.goto(`${web.url}/adapters/sentiment/eval`);
    await page.getByTestId("eval-limit").selectOption("5");
    await page.getByTestId("eval-start").click();
    await expect.poll(() => page.getByTestId("eval-progress").getAttribute("data-status").catch(() => null), { timeout: 240_000 }).toBe("done");

    const shortRun = await page.getByTestId("eval-progress").textContent();
    await page.getByTestId("eval-limit").selectOption("all");
    await page.getByTestId("eval-start").click();
    // the full run's own progress (not the short run's last state): running, 2 requests answered
    const progress = page.getByTestId("eval-progress");
    await expect
      .poll(async () => {
        const text = (await progress.textContent()) ?? "";
        if (text === shortRun) return "short run still shown";
        return `${await progress.getAttribute("data-status")} ${Number(text.match(/(\d+)\/\d+ requests/)?.[1] ?? 0) >= 2}`;
      }, { timeout: 240_000 })
      .toBe("running true");
    // hold the worker: no answer can arrive between here and the cancel, however slow the machine
    signalTree(worker.child.pid!, "SIGSTOP");
    try {
      await page.getByTestId("eval-cancel").click();
      await expect.poll(() => page.getByTestId("eval-progress").getAttribute("data-status"), { timeout: 60_000 }).toBe("cancelled");
    } finally {
      signalTree(worker.child.pid!, "SIGCONT");
    }
    expect(await page.getByTestId("eval-cancel").count()).toBe(0);
    // the newest cancelled run (listed first): on a shared Postgres, earlier test runs left theirs
    const row = page.getByTestId("eval-run-row").filter({ has: page.getByTestId("eval-run-cancelled") }).first();
    await row.waitFor({ timeout: 20_000 });
    const n = Number(await row.locator("td").nth(3).textContent());
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThan(500);
    // cancelled runs are never offered as the catalog figure
    expect(await row.getByTestId("eval-run-headline").textContent()).toBe("–");
    expect(await row.getByTestId("eval-run-ci").textContent()).toMatch(/^\[\d+\.\d–\d+\.\d\]$/);
    await expect.poll(() => page.getByTestId("score-fine-tuned-ci").textContent()).toMatch(/^\[\d+\.\d–\d+\.\d\]$/);
    // compare: the newest (cancelled) run against the 5-example one
    const cmp = page.getByTestId("eval-compare");
    await cmp.getByTestId("compare-summary").waitFor();
    expect(await cmp.getByTestId("compare-summary").textContent()).toMatch(/on the \d+ examples both scored/);
    await page.getByTestId("published-vs-measured").waitFor();
    await page.screenshot({ path: path.join(shots, "eval-controls-desktop-light.png"), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 600_000);

  it("the pages fit a phone and read in both themes", async () => {
    for (const [view, opts] of VIEWS) {
      const ctx = await browser.newContext({ ...opts, storageState: owner });
      const p = await ctx.newPage();
      const errs = watchErrors(p);
      for (const [page, url, ready] of [
        ["playground", "/playground?adapter=sql", '[data-testid="presets"]'],
        ["eval", "/adapters/sentiment/eval", '[data-testid="eval-compare"]'],
        ["history", "/chats", '[data-testid="history-item"]'],
      ] as const) {
        await p.goto(`${web.url}${url}`);
        await p.waitForSelector(ready, { timeout: 60_000 });
        if (page === "history") {
          await p.locator('[data-testid="history-item"]').first().click();
          await p.getByTestId("feedback").first().waitFor({ timeout: 20_000 });
        }
        expect(await p.evaluate(() => document.documentElement.scrollWidth), `${page} ${view}`).toBeLessThanOrEqual(opts.viewport.width);
        await p.screenshot({ path: path.join(shots, `h8-${page}-${view}.png`), fullPage: true });
      }
      expect(errs, view).toEqual([]);
      await ctx.close();
    }
  }, 300_000);
});
