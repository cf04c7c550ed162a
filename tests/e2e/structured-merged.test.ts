/**
 * Structured output in the playground and a merged pane on /compare, in Chromium against the real
 * worker and the production server: NER's card offers "Structured output (JSON schema)" (off by
 * default), a schema the worker would refuse is named and holds the run, the card's schema runs and
 * the answer shows "Valid JSON ✓" and is the worker's own answer to that response_format; the
 * compare page's "+ Merged pane" runs a recipe (TIES here) next to the other panes, named by it,
 * and its answer is the worker's own to that merged_adapters. Screenshots on a desktop and a 390 px
 * phone go to H9_SHOTS (default test-results/e2e).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { parseRecipe } from "../../components/compare/merged-recipe";
import { browserAvailable } from "./browser";
import { realWorkerAvailable, screenshotDir } from "./playground-harness";
import { useWorkerWebBrowser } from "./worker-web-browser";

const shots = () => {
  const dir = process.env.H9_SHOTS ?? screenshotDir();
  fs.mkdirSync(dir, { recursive: true });
  return dir;
};

async function generate(url: string, inputs: string, parameters: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${url}/generate`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs, parameters }) });
  if (!res.ok) throw new Error(`worker /generate ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { generated_text: string }).generated_text;
}

const statuses = (page: Page, sel: string) => page.locator(sel).evaluateAll((els) => els.map((e) => e.getAttribute("data-status")).join(","));

describe.runIf(browserAvailable() && realWorkerAvailable())("structured output and merged panes (browser, real worker)", () => {
  const h = useWorkerWebBrowser();

  it("playground: structured output for NER (off by default; a bad schema is named; the card's runs and is valid JSON)", async () => {
    for (const [name, viewport] of [["desktop", { width: 1400, height: 1000 }], ["phone", { width: 390, height: 844 }]] as const) {
      const ctx = await h.browser.newContext({ viewport, ...(name === "phone" ? { isMobile: true, hasTouch: true } : {}) });
      const page = await ctx.newPage();
      await page.goto(`${h.web.url}/playground?adapter=ner&p.max_new_tokens=96`);
      await page.waitForSelector('[data-testid="run"]:not([disabled])');
      const toggle = page.locator('[data-testid="param-structured"]');
      expect(await toggle.isChecked()).toBe(false);
      await toggle.check();
      const box = page.locator('[data-testid="param-schema"]');
      const cardSchema = JSON.parse(await box.inputValue()) as { properties: Record<string, unknown> };
      expect(Object.keys(cardSchema.properties)).toEqual(["person", "organization", "location"]);
      // a keyword the worker does not take: named, and the run waits
      await box.fill('{"type": "object", "properties": {"person": {"type": "string", "pattern": "^A"}}}');
      expect(await page.locator('[data-testid="schema-error"]').textContent()).toContain("properties.person.pattern");
      expect(await page.locator('[data-testid="run"]').isDisabled()).toBe(true);
      await page.getByRole("button", { name: "Use the card’s schema" }).click();
      expect(await page.locator('[data-testid="schema-error"]').count()).toBe(0);
      expect(JSON.parse(await box.inputValue())).toEqual(cardSchema);
      // the link keeps it
      expect(decodeURIComponent((await page.locator('[data-testid="copy-link"]').getAttribute("data-href"))!)).toContain(`p.schema=${JSON.stringify(cardSchema)}`);
      await page.click('[data-testid="run"]');
      const pane = page.locator('[data-testid="output-pane"]');
      await expect.poll(() => pane.getAttribute("data-status"), { timeout: 120_000 }).toBe("done");
      expect(await pane.locator('[data-testid="json-validity"]').textContent()).toBe("Valid JSON ✓");
      // what the worker itself answers to that prompt with that response_format
      const text = (await pane.locator('[data-testid="raw-output"]').textContent()) ?? "";
      const rendered = (await page.locator('[data-testid="rendered-prompt"]').textContent())!;
      expect(text).toBe(await generate(h.worker.url, rendered, { adapter_id: "ner", max_new_tokens: 96, response_format: { type: "json_object", schema: cardSchema } }));
      await page.screenshot({ path: path.join(shots(), `playground-structured-${name}.png`), fullPage: true });
      // the schema box itself, in the viewport (a full-page shot puts the sticky header over it)
      await page.locator('[data-testid="structured-output"]').evaluate((e) => e.scrollIntoView({ block: "center" }));
      await page.screenshot({ path: path.join(shots(), `playground-schema-${name}.png`) });
      // the page fits the screen: nothing wider than the viewport
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
      await ctx.close();
    }
  }, 300_000);

  it("compare: + Merged pane runs a TIES recipe next to the others, named by it", async () => {
    for (const [name, viewport] of [["desktop", { width: 1500, height: 1000 }], ["phone", { width: 390, height: 844 }]] as const) {
      const ctx = await h.browser.newContext({ viewport, ...(name === "phone" ? { isMobile: true, hasTouch: true } : {}) });
      const page = await ctx.newPage();
      const prompt = "Name: The Eagle";
      await page.goto(`${h.web.url}/compare?adapters=e2e,base&mode=raw&prompt=${encodeURIComponent(prompt)}&p.max_new_tokens=16`);
      await page.waitForSelector('[data-testid="run"]:not([disabled])');
      await page.click('[data-testid="add-merged-pane"]');
      const panes = page.locator('[data-testid="compare-pane"]');
      expect(await panes.count()).toBe(3);
      const label = page.locator('[data-testid="merged-label"]');
      expect(await label.textContent()).toMatch(/^merged:linear\(/);
      await page.click('[data-testid="merge-recipe-toggle"]');
      await page.selectOption('[data-testid="merge-strategy"]', "ties");
      await page.fill('[data-testid="merge-density"]', "0.6");
      const recipeName = (await label.textContent())!;
      expect(recipeName).toMatch(/^merged:ties\(.*;density=0\.6;sign=total\)$/);
      await page.click('[data-testid="run"]');
      await expect.poll(() => statuses(page, '[data-testid="compare-pane"]'), { timeout: 120_000 }).toBe("done,done,done");
      const merged = await panes.nth(2).locator('[data-testid="raw-output"]').textContent();
      expect(merged).toBe(await generate(h.worker.url, prompt, { max_new_tokens: 16, merged_adapters: parseRecipe(recipeName) }));
      expect(decodeURIComponent((await page.locator('[data-testid="copy-link"]').getAttribute("data-href"))!.replace(/\+/g, " "))).toContain(recipeName);
      await page.screenshot({ path: path.join(shots(), `compare-merged-${name}.png`), fullPage: true });
      // the merged pane fits the screen
      const box = (await panes.nth(2).boundingBox())!;
      expect(box.x + box.width).toBeLessThanOrEqual(viewport.width);
      if (name === "desktop") {
        // history names the recipe, and Continue opens it again as a merged pane
        await page.goto(`${h.web.url}/chats`);
        await page.click('[data-testid="history-item"] >> nth=0');
        const gens = page.locator('[data-testid="chat-generation"]');
        await expect.poll(() => gens.count()).toBe(3);
        expect(await gens.nth(2).textContent()).toContain(recipeName);
        expect(await gens.nth(2).locator('[data-testid="raw-output"]').textContent()).toBe(merged);
        await page.screenshot({ path: path.join(shots(), "history-merged-desktop.png"), fullPage: true });
        await page.click('[data-testid="continue"]');
        await page.waitForURL(/\/compare\?/);
        await page.waitForSelector('[data-testid="run"]:not([disabled])');
        expect(await page.locator('[data-testid="merged-label"]').textContent()).toBe(recipeName);
      }
      await ctx.close();
    }
  }, 300_000);
});
