/**
 * History survives a web server restart (PGlite under the same DATA_DIR; Postgres when
 * DATABASE_URL is set), and can be searched, renamed, exported and deleted.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { browserAvailable, launchBrowser, startWebServer } from "./browser";
import { screenshotDir, startTestWorker, type TestWorker } from "./playground-harness";

describe.runIf(browserAvailable())("history (browser)", () => {
  let worker: TestWorker;
  let browser: Browser;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-history-"));
  beforeAll(async () => {
    worker = await startTestWorker({ delayMs: 5 });
    browser = await launchBrowser();
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await worker?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("keeps runs across a server restart; search, rename, export and delete work", async () => {
    const env = process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : undefined;
    const ctx = await browser.newContext({ acceptDownloads: true });
    const page = await ctx.newPage();
    const marker = `zebra-${Date.now()}`;
    let web = await startWebServer({ worker: { url: worker.url }, dataDir, env });
    try {
      await page.goto(`${web.url}/playground?adapter=sql&mode=raw&prompt=${encodeURIComponent(`${marker} crosses the road`)}&p.max_new_tokens=8`);
      await page.waitForSelector('[data-testid="run"]:not([disabled])');
      await page.click('[data-testid="run"]');
      await expect.poll(() => page.locator('[data-testid="output-pane"]').getAttribute("data-status"), { timeout: 60_000 }).toBe("done");
      const output = await page.locator('[data-testid="raw-output"]').textContent();
      await web.stop();

      web = await startWebServer({ worker: { url: worker.url }, dataDir, env });
      await page.goto(`${web.url}/chats`);
      await page.fill('[data-testid="history-search"]', marker);
      const item = page.locator('[data-testid="history-item"]', { hasText: marker });
      await item.waitFor({ timeout: 20_000 });
      expect(await page.locator('[data-testid="history-list"] h3').first().textContent()).toBe("Today");
      await page.fill('[data-testid="history-search"]', `${marker}-no-such-thing`);
      await page.waitForSelector('[data-testid="history-empty"]');
      await page.fill('[data-testid="history-search"]', marker);
      await item.click();
      const gen = page.locator('[data-testid="chat-generation"]');
      await gen.waitFor();
      expect(await gen.getAttribute("data-status")).toBe("done");
      expect(await gen.locator('[data-testid="raw-output"]').textContent()).toBe(output);

      await page.click('[data-testid="rename"]');
      await page.fill('[data-testid="rename-input"]', "Renamed after restart");
      await page.click('[data-testid="rename-save"]');
      await expect.poll(() => page.locator('[data-testid="chat-title"]').textContent()).toBe("Renamed after restart");

      const [md] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export-md"]')]);
      const mdText = fs.readFileSync((await md.path())!, "utf8");
      expect(mdText).toContain("# Renamed after restart");
      expect(mdText).toContain(output!);
      const [json] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export-json"]')]);
      const doc = JSON.parse(fs.readFileSync((await json.path())!, "utf8")) as { turns: { outputs: { output: string; status: string }[] }[] };
      expect(doc.turns[0]!.outputs[0]).toMatchObject({ output, status: "done" });
      await page.screenshot({ path: path.join(screenshotDir(), "history.png"), fullPage: true });

      page.once("dialog", (d) => void d.accept());
      await page.click('[data-testid="delete"]');
      await page.waitForURL(/\/chats$/);
      await page.fill('[data-testid="history-search"]', marker);
      await page.waitForSelector('[data-testid="history-empty"]');
    } finally {
      await web.stop();
      await ctx.close();
    }
  });
});
