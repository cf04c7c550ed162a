/**
 * Compare two adapters and the base model at once, share the comparison, open the link in a fresh
 * browser context (no cookie: another person), and revoke it (then the link is a 404).
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { browserAvailable, launchBrowser, startWebServer, type WebServer } from "./browser";
import { screenshotDir, startTestWorker, workerAnswer, type TestWorker } from "./playground-harness";

describe.runIf(browserAvailable())("compare and share (browser)", () => {
  let worker: TestWorker;
  let web: WebServer;
  let browser: Browser;
  beforeAll(async () => {
    worker = await startTestWorker({ delayMs: 20 });
    web = await startWebServer({ worker: { url: worker.url } });
    browser = await launchBrowser();
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await web?.stop();
    await worker?.stop();
  });

  it("runs two adapters and the base model side by side, shares it, and the link opens elsewhere read-only", async () => {
    const owner = await browser.newContext({ viewport: { width: 1500, height: 1000 } });
    const page = await owner.newPage();
    const prompt = "Name: The Eagle";
    const models = ["e2e", "sentiment", null] as const;
    await page.goto(`${web.url}/compare?adapters=e2e,sentiment,base&mode=raw&prompt=${encodeURIComponent(prompt)}&p.max_new_tokens=16`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    const panes = page.locator('[data-testid="compare-pane"]');
    expect(await panes.count()).toBe(3);
    await page.click('[data-testid="run"]');
    // all three stream at the same time
    await expect
      .poll(async () => (await panes.evaluateAll((els) => els.map((e) => e.getAttribute("data-status")))).join(","), { timeout: 60_000 })
      .toMatch(/^(streaming|done),(streaming|done),(streaming|done)$/);
    await expect
      .poll(async () => (await panes.evaluateAll((els) => els.map((e) => e.getAttribute("data-status")))).join(","), { timeout: 60_000 })
      .toBe("done,done,done");
    const texts = await panes.locator('[data-testid="raw-output"]').allTextContents();
    for (const [i, m] of models.entries()) expect(texts[i]).toBe(await workerAnswer(worker.url, prompt, m, 16));
    expect(await page.locator('[data-testid="aggregate-tps"]').textContent()).toMatch(/\d+\.\d tok\/s over 3 streams/);
    await page.screenshot({ path: path.join(screenshotDir(), "compare.png") });

    await page.click('[data-testid="share"]');
    const url = await page.locator('[data-testid="share-url"]').inputValue();
    expect(url).toMatch(/\/s\/[0-9A-Za-z]{12}$/);
    const slugPath = new URL(url).pathname;

    // another person: fresh context, no cookie
    const other = await browser.newContext();
    const view = await other.newPage();
    const res = await view.goto(`${web.url}${slugPath}`);
    expect(res!.status()).toBe(200);
    expect(await view.locator('meta[property="og:title"]').getAttribute("content")).toContain("e2e vs sentiment vs base model");
    expect(await view.locator('meta[property="og:description"]').getAttribute("content")).toBeTruthy();
    const shared = view.locator('[data-testid="shared-pane"]');
    expect(await shared.locator('[data-testid="raw-output"]').allTextContents()).toEqual(texts);
    expect(await view.locator('[data-testid="share-revoke"]').count()).toBe(0); // not theirs
    expect(await view.locator('[data-testid="run"]').count()).toBe(0); // read-only
    await view.screenshot({ path: path.join(screenshotDir(), "share.png"), fullPage: true });

    // "continue as a copy" opens the comparison pre-filled for the visitor
    await view.click('[data-testid="continue-copy"]');
    await view.waitForURL(/\/compare\?/);
    await view.waitForSelector('[data-testid="run"]:not([disabled])');
    expect(await view.locator('[data-testid="compare-pane"]').count()).toBe(3);
    expect(await view.locator('[data-testid="raw-prompt"]').inputValue()).toBe(prompt);

    // the owner revokes: the link is gone for everyone
    await page.click('[data-testid="share-revoke"]');
    await page.waitForSelector('[data-testid="share-revoked"]');
    const gone = await view.goto(`${web.url}${slugPath}`);
    expect(gone!.status()).toBe(404);
    await other.close();
    await owner.close();
  });

  it("refuses a cross-site generation request; the owner cookie is httpOnly and SameSite", async () => {
    const res = await fetch(`${web.url}/api/trpc/generate.start`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "https://evil.example", "sec-fetch-site": "cross-site", cookie: "owner=00000000-0000-4000-8000-000000000000" },
      body: JSON.stringify({ json: { mode: "raw", adapters: [null], prompt: "x", params: { max_new_tokens: 1 } } }),
    });
    expect(res.status).toBe(403);
    const cookieRes = await fetch(`${web.url}/playground`);
    expect(cookieRes.headers.get("set-cookie")).toMatch(/owner=.*HttpOnly.*SameSite=lax/i);
  });
});
