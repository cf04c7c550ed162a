/**
 * The playground in Chromium, against the worker (real when the project has it): a prompt streams
 * in order into the page and the stats fill in; a long stream stops mid-way on "Stop" and is kept
 * in history as stopped.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Locator } from "playwright-core";
import { browserAvailable, launchBrowser, startWebServer, type WebServer } from "./browser";
import { recordOutput, screenshotDir, snapshots, startTestWorker, workerAnswer, type TestWorker } from "./playground-harness";

/** A counter of the worker's /metrics (0 when absent). */
async function workerMetric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
}

/** An element's text, "" when it is not there (an empty output renders no text block). */
const textOf = async (loc: Locator) => ((await loc.count()) > 0 ? ((await loc.first().textContent()) ?? "") : "");

describe.runIf(browserAvailable())("playground (browser)", () => {
  let worker: TestWorker;
  let web: WebServer;
  let browser: Browser;
  beforeAll(async () => {
    worker = await startTestWorker({ delayMs: 30 });
    web = await startWebServer({ worker: { url: worker.url } });
    browser = await launchBrowser();
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await web?.stop();
    await worker?.stop();
  });

  it("streams a prompt token by token, in order, and fills in the stats", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const prompt = "The weather today is";
    await page.goto(`${web.url}/playground?adapter=sql&mode=raw&prompt=${encodeURIComponent(prompt)}&p.max_new_tokens=400&p.ignore_eos=1`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await recordOutput(page, '[data-testid="output-pane"]');
    await page.click('[data-testid="run"]');
    const pane = page.locator('[data-testid="output-pane"]');
    await expect.poll(() => pane.getAttribute("data-status"), { timeout: 60_000 }).toMatch(/done|error/);
    expect(await pane.locator('[data-testid="pane-error"]').count()).toBe(0);

    const expected = await workerAnswer(worker.url, prompt, "sql", 400, worker.real, true);
    const finalText = await pane.locator('[data-testid="raw-output"]').textContent();
    expect(finalText).toBe(expected);
    // every intermediate text was a prefix of the next: nothing lost, reordered or repeated
    const snaps = await snapshots(page);
    expect(snaps.length).toBeGreaterThan(3);
    for (let i = 1; i < snaps.length; i++) expect(snaps[i]!.startsWith(snaps[i - 1]!)).toBe(true);
    expect(snaps.at(-1)).toBe(expected);

    expect(await pane.locator('[data-testid="stat-ttft"]').textContent()).toMatch(/^\d+ ms$/);
    expect(await pane.locator('[data-testid="stat-tps"]').textContent()).toMatch(/^\d+\.\d$/);
    expect(await pane.locator('[data-testid="stat-tokens"]').textContent()).toMatch(/\d+ in \/ \d+ out/);
    expect(await pane.locator('[data-testid="stat-finish"]').textContent()).toBe("length");

    // the token view shows every token with its logprob
    await page.check('[data-testid="toggle-tokens"]');
    const tokens = pane.locator('[data-testid="token"]');
    expect(await tokens.count()).toBeGreaterThan(0);
    expect(await tokens.first().getAttribute("data-logprob")).toMatch(/^-?\d/);
    await page.screenshot({ path: path.join(screenshotDir(), "playground.png"), fullPage: true });
    await page.close();
  });

  it("has the next run's subscription open before Run is clicked: the run streams on it, and no stream request is on the first token's path", async () => {
    const page = await browser.newPage();
    // every tRPC stream request's runId, and the runId each start call named, in order
    const streams: { runId: string; at: number }[] = [];
    const starts: { runId: string; at: number }[] = [];
    let t = 0;
    page.on("request", (req) => {
      const url = new URL(req.url());
      if (url.pathname.endsWith("/generate.stream")) streams.push({ runId: JSON.parse(url.searchParams.get("input")!).json.runId, at: t++ });
      else if (url.pathname.includes("generate.start")) {
        // sent alone (httpLink): {"json": input}
        const body = JSON.parse(req.postData() ?? "{}") as { json: { runId: string } };
        starts.push({ runId: body.json.runId, at: t++ });
      }
    });
    await page.goto(`${web.url}/playground?adapter=sql&mode=raw&prompt=${encodeURIComponent("The weather today is")}&p.max_new_tokens=24&p.ignore_eos=1`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await expect.poll(() => streams.length, { timeout: 30_000 }).toBeGreaterThan(0);
    const before = streams.length;
    const pane = page.locator('[data-testid="output-pane"]');
    for (let round = 0; round < 2; round++) {
      await page.click('[data-testid="run"]');
      await expect.poll(() => pane.getAttribute("data-status"), { timeout: 60_000 }).toBe("done");
      const start = starts[round]!;
      const opened = streams.filter((s) => s.runId === start.runId);
      // one stream request for the run, opened before its start call went out
      expect(opened).toHaveLength(1);
      expect(opened[0]!.at).toBeLessThan(start.at);
      // the next run's subscription opens again once this one has ended
      await expect.poll(() => streams.filter((s) => s.at > start.at).length, { timeout: 30_000 }).toBeGreaterThan(0);
    }
    expect(before).toBeGreaterThan(0);
    expect(await pane.locator('[data-testid="raw-output"]').textContent()).toBe(await workerAnswer(worker.url, "The weather today is", "sql", 24, worker.real, true));
    await page.close();
  });

  it("stops a stream mid-way: the pane freezes at the click, and history keeps exactly what it showed", async () => {
    const page = await browser.newPage();
    const cancelledBefore = await workerMetric(worker.url, "worker_requests_cancelled_total");
    // 1000 tokens (the demo model's context is 1024), stopped at the first text: it cannot end first
    await page.goto(`${web.url}/playground?adapter=base&mode=raw&prompt=${encodeURIComponent("Once upon a time")}&p.max_new_tokens=1000&p.ignore_eos=1`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await page.click('[data-testid="run"]');
    const pane = page.locator('[data-testid="output-pane"]');
    // clicked in the same task that sees the first text, and the text read right after the click
    const shown = await page.evaluate(
      () =>
        new Promise<string>((resolve, reject) => {
          const check = () => {
            const out = document.querySelector('[data-testid="output-pane"] [data-testid="raw-output"]');
            if (!out?.textContent) return false;
            const stop = document.querySelector<HTMLButtonElement>('[data-testid="stop"]');
            if (!stop) reject(new Error("the run ended before Stop could be clicked"));
            else {
              stop.click();
              resolve(out.textContent);
            }
            return true;
          };
          if (check()) return;
          const mo = new MutationObserver(() => check() && mo.disconnect());
          mo.observe(document.body, { subtree: true, childList: true, characterData: true });
        }),
    );
    expect(shown.length).toBeGreaterThan(0);
    await expect.poll(() => pane.getAttribute("aria-label")).toMatch(/stopped$/);
    // nothing arrives after the click (no timing claim: the text is simply the same later)
    await page.waitForTimeout(2_000);
    expect(await pane.locator('[data-testid="raw-output"]').textContent()).toBe(shown);
    expect(await pane.getAttribute("aria-label")).toMatch(/stopped$/);
    // the worker's request was cancelled (the connection closed), not left to run its 1000 tokens
    if (worker.real) await expect.poll(() => workerMetric(worker.url, "worker_requests_cancelled_total"), { timeout: 20_000 }).toBeGreaterThan(cancelledBefore);

    // in history, as stopped, with exactly what the page showed
    await page.goto(`${web.url}/chats`);
    await page.click('[data-testid="history-item"] >> nth=0');
    const gen = page.locator('[data-testid="chat-generation"]');
    await expect.poll(() => gen.getAttribute("data-status"), { timeout: 10_000 }).toBe("stopped");
    expect(await gen.locator('[data-testid="raw-output"]').textContent()).toBe(shown);
    await page.close();
  });

  it("Use via API points at this site's /api/v1 proxy (no PUBLIC_INFERENCE_URL) and says how to call it", async () => {
    const page = await browser.newPage();
    await page.goto(`${web.url}/playground?adapter=sql&mode=raw&prompt=${encodeURIComponent("The weather")}`);
    await page.click('[data-testid="api-snippets"] summary');
    const code = page.locator('[data-testid="snippet-code"]');
    await expect.poll(() => code.textContent(), { timeout: 20_000 }).toContain(`curl ${web.url}/api/v1/completions`);
    expect(await code.textContent()).not.toContain(worker.url);
    expect(await page.locator('[data-testid="snippet-note"]').textContent()).toMatch(/\/api\/v1.*PUBLIC_INFERENCE_URL/);
    await page.click('[data-testid="snippet-tab-openai"]');
    expect(await code.textContent()).toContain(`baseURL: "${web.url}/api/v1", apiKey: process.env.ADMIN_TOKEN`);
    await page.close();
  });

  it("a Stop while the start call is still in flight freezes the pane at once and stores it as stopped", async () => {
    const page = await browser.newPage();
    await page.goto(`${web.url}/playground?adapter=base&mode=raw&prompt=${encodeURIComponent("A stop before the start")}&p.max_new_tokens=1000&p.ignore_eos=1`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    const pane = page.locator('[data-testid="output-pane"]');
    // Run, then Stop as soon as React shows it: the start mutation cannot have answered in one frame
    const shown = await page.evaluate(async () => {
      document.querySelector<HTMLButtonElement>('[data-testid="run"]')!.click();
      for (let i = 0; i < 50 && !document.querySelector('[data-testid="stop"]'); i++) await new Promise((r) => setTimeout(r, 0));
      document.querySelector<HTMLButtonElement>('[data-testid="stop"]')!.click();
      return document.querySelector('[data-testid="output-pane"] [data-testid="raw-output"]')?.textContent ?? "";
    });
    await expect.poll(() => pane.getAttribute("aria-label")).toMatch(/stopped$/);
    await page.waitForTimeout(2_000);
    expect(await textOf(pane.locator('[data-testid="raw-output"]'))).toBe(shown);
    expect(await pane.getAttribute("aria-label")).toMatch(/stopped$/);
    await page.goto(`${web.url}/chats`);
    await page.click('[data-testid="history-item"] >> nth=0');
    const gen = page.locator('[data-testid="chat-generation"]');
    await expect.poll(() => gen.getAttribute("data-status"), { timeout: 10_000 }).toBe("stopped");
    expect(await textOf(gen.locator('[data-testid="raw-output"]'))).toBe(shown);
    await page.close();
  });

  it("with the worker down, a run says so clearly and offers a retry (no endless spinner)", async () => {
    const offline = await startWebServer({ worker: "none" });
    try {
      const page = await browser.newPage();
      await page.goto(`${offline.url}/playground?adapter=sql&mode=raw&prompt=hello`);
      await page.waitForSelector('[data-testid="worker-offline-banner"]', { timeout: 20_000 });
      await page.click('[data-testid="run"]');
      const pane = page.locator('[data-testid="output-pane"]');
      await expect.poll(() => pane.getAttribute("data-status"), { timeout: 20_000 }).toBe("error");
      expect(await pane.locator('[data-testid="pane-error"]').textContent()).toMatch(/unreachable/);
      expect(await pane.locator('[data-testid="retry"]').textContent()).toBe("Retry");
      await page.close();
    } finally {
      await offline.stop();
    }
  });
});
