/**
 * The playground in Chromium, against the worker (real when the project has it): a prompt streams
 * in order into the page and the stats fill in; a long stream stops mid-way on "Stop" and is kept
 * in history as stopped.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { browserAvailable, launchBrowser, startWebServer, type WebServer } from "./browser";
import { recordOutput, screenshotDir, snapshots, startTestWorker, workerAnswer, type TestWorker } from "./playground-harness";

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

  it("stops a stream mid-way; the partial output is kept as stopped", async () => {
    const page = await browser.newPage();
    await page.goto(`${web.url}/playground?adapter=base&mode=raw&prompt=${encodeURIComponent("Once upon a time")}&p.max_new_tokens=1000&p.ignore_eos=1`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await page.click('[data-testid="run"]');
    const pane = page.locator('[data-testid="output-pane"]');
    await expect.poll(() => pane.locator('[data-testid="raw-output"]').textContent(), { timeout: 60_000 }).not.toBe("");
    await page.click('[data-testid="stop"]');
    await expect.poll(() => pane.getAttribute("data-status"), { timeout: 20_000 }).toBe("stopped");
    const shown = (await pane.locator('[data-testid="raw-output"]').textContent())!;
    expect(shown.length).toBeGreaterThan(0);

    // in history, as stopped, with exactly what the page showed
    await page.goto(`${web.url}/chats`);
    await page.click('[data-testid="history-item"] >> nth=0');
    const gen = page.locator('[data-testid="chat-generation"]');
    await expect.poll(() => gen.getAttribute("data-status"), { timeout: 10_000 }).toBe("stopped");
    expect(await gen.locator('[data-testid="raw-output"]').textContent()).toBe(shown);
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
