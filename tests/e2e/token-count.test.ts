/**
 * The prompt's token counter in Chromium, against the real worker: typing in the raw prompt counts
 * in the browser (GET /api/tokenizer once, no generate.tokenCount / tokenize request) and shows
 * what the worker's POST /tokenize answers; when the server cannot vouch for a tokenizer (MODEL_DIR
 * is another model than the worker's) the page asks the worker instead and shows the same number,
 * with no console error either way.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { browserAvailable, ROOT, startWebServer } from "./browser";
import { useWorkerWebBrowser } from "./worker-web-browser";

const TEXT = "  Héllo wörld 👋🏽 東京\nsecond line\tend ";

async function workerCount(url: string, text: string): Promise<number> {
  const res = await fetch(`${url}/tokenize`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: text }) });
  if (!res.ok) throw new Error(`worker /tokenize ${res.status}: ${await res.text()}`);
  return ((await res.json()) as unknown[]).length;
}

/** the page's requests' URLs and its console errors, from the start */
function watch(page: Page): { urls: string[]; errors: string[] } {
  const seen = { urls: [] as string[], errors: [] as string[] };
  page.on("request", (r) => seen.urls.push(r.url()));
  page.on("console", (m) => m.type() === "error" && seen.errors.push(m.text()));
  page.on("pageerror", (e) => seen.errors.push(e.message));
  return seen;
}

/** a tRPC generate.tokenCount call, or a /tokenize request (not /api/tokenizer) */
const asksWorker = (u: string) => /tokenCount|\/tokenize(\?|$)/.test(u);

describe.runIf(browserAvailable())("prompt token counter (browser)", () => {
  const h = useWorkerWebBrowser();

  it("counts typed text in the browser, as the worker's /tokenize does, without asking it", async () => {
    const page = await h.browser.newPage();
    const seen = watch(page);
    await page.goto(`${h.web.url}/playground?adapter=base&mode=raw`);
    const box = page.locator('[data-testid="raw-prompt"]');
    await box.waitFor();
    await box.pressSequentially(TEXT, { delay: 20 });
    const expected = await workerCount(h.worker.url, TEXT);
    await expect.poll(() => page.locator('[data-testid="prompt-token-count"]').textContent()).toBe(`${expected} tokens`);
    // and an edit in the middle recounts
    await box.fill(`${TEXT}more`);
    const more = await workerCount(h.worker.url, `${TEXT}more`);
    await expect.poll(() => page.locator('[data-testid="prompt-token-count"]').textContent()).toBe(`${more} tokens`);
    expect(seen.urls.filter(asksWorker)).toEqual([]);
    expect(seen.urls.filter((u) => u.endsWith("/api/tokenizer"))).toHaveLength(1);
    expect(seen.errors).toEqual([]);
    await page.close();
  });

  it("asks the worker (debounced) when MODEL_DIR is not the worker's model, and shows its count", async () => {
    const other = await startWebServer({ worker: { url: h.worker.url }, env: { MODEL_DIR: path.join(ROOT, "tests/data/fixtures/tiny-mistral/base") } });
    try {
      expect(await (await fetch(`${other.url}/api/tokenizer`)).json()).toMatchObject({ tokenizer: null });
      const page = await h.browser.newPage();
      const seen = watch(page);
      await page.goto(`${other.url}/playground?adapter=base&mode=raw`);
      const box = page.locator('[data-testid="raw-prompt"]');
      await box.waitFor();
      await box.pressSequentially(TEXT, { delay: 20 });
      const expected = await workerCount(h.worker.url, TEXT);
      await expect.poll(() => page.locator('[data-testid="prompt-token-count"]').textContent()).toBe(`${expected} tokens`);
      const asked = seen.urls.filter(asksWorker).length;
      expect(asked).toBeGreaterThan(0);
      // debounced: far fewer requests than keys typed
      expect(asked).toBeLessThan(TEXT.length / 2);
      expect(seen.errors).toEqual([]);
      await page.close();
    } finally {
      await other.stop();
    }
  });
});
