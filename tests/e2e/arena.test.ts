/**
 * The arena and the code answers in Chromium, against the real worker and the production server
 * (issue 14 items 11 and 12): a blind battle on the demo model whose panes name no model until
 * the vote, the vote revealing them and moving the leaderboard, the word diff (on /compare too,
 * between two panes, named by model); JSON answers highlighted with "Valid JSON ✓" (and ✗ for
 * the base model on the same task), SQL highlighted;
 * zero console errors under the CSP. Screenshots of /arena (desktop and a 390 px phone, light and
 * dark) go to test-results/e2e.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { renderTemplate } from "../../components/playground/template";
import { browserAvailable } from "./browser";
import { screenshotDir, workerAnswer } from "./playground-harness";
import { useWorkerWebBrowser } from "./worker-web-browser";

const SQL_TEMPLATE = "Translate the question into an SQL query for the table.\n\nTable: {table} ({columns})\nQuestion: {question}\nSQL:";

/** Console errors, failed page requests and uncaught errors of a page, for a zero-errors check. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) errors.push(`${page.url()}: ${r.status()} ${r.url()}`);
  });
  return errors;
}

describe.runIf(browserAvailable())("arena and code answers (browser, real worker)", () => {
  const h = useWorkerWebBrowser();

  it("runs a blind battle: no names before the vote, one vote, then names and the leaderboard", async () => {
    const page = await h.browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = watchErrors(page);
    await page.goto(`${h.web.url}/arena?task=sql`);
    const start = page.getByTestId("arena-start");
    await page.waitForSelector('[data-testid="arena-start"]:not([disabled])');
    expect(await page.getByTestId("arena-task").inputValue()).toBe("sql");
    const board = page.getByTestId("arena-leaderboard");
    await expect.poll(() => board.getAttribute("data-votes")).toBe("0");
    expect(await board.getByTestId("leaderboard-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-model")).sort())).toEqual(["(base)", "sql"]);

    // the start call's answer as the browser got it (passed through unchanged)
    const answers: string[] = [];
    await page.route(/\/api\/trpc\/arena\.start/, async (route) => {
      const res = await route.fetch();
      const body = await res.text();
      answers.push(body);
      await route.fulfill({ response: res, body });
    });
    await start.click();
    await expect.poll(() => answers.length).toBe(1);
    const answer = answers[0]!;
    // the browser learns the battle, never its models
    expect(answer).toContain("battleId");
    expect(answer).not.toMatch(/model|\(base\)|adapter/i);

    const panes = page.getByTestId("arena-pane");
    await expect.poll(() => panes.evaluateAll((ps) => ps.map((p) => p.getAttribute("data-status"))), { timeout: 120_000 }).toEqual(["done", "done"]);
    // still anonymous: the panes are "Model A" and "Model B", nothing is revealed
    expect(await panes.evaluateAll((ps) => ps.map((p) => p.getAttribute("aria-label")))).toEqual(["Model A: done", "Model B: done"]);
    expect(await page.getByTestId("arena-reveal").count()).toBe(0);
    expect(await panes.allTextContents()).not.toContainEqual(expect.stringMatching(/Base model|SQL Generation/));

    // which pane is the adapter: the one that answered as the worker answers for it
    const inputs = { table: "players", columns: "name, team, position, age, goals", question: "How many players have goals greater than 9?" };
    expect(await page.getByTestId("input-question").inputValue()).toBe(inputs.question);
    const adapterAnswer = await workerAnswer(h.worker.url, renderTemplate(SQL_TEMPLATE, inputs), "sql", 64, h.worker.real);
    const outputs = await panes.locator('[data-testid="raw-output"]').allTextContents();
    expect(outputs).toContain(adapterAnswer);
    const side = outputs[0] === adapterAnswer ? "a" : "b";

    await page.getByTestId("arena-diff-toggle").check();
    await expect.poll(() => page.getByTestId("arena-diff").count()).toBe(1);
    expect(await page.getByTestId("arena-diff").locator('[data-testid="diff-added"], [data-testid="diff-removed"]').count()).toBeGreaterThan(0);

    await page.getByTestId(`vote-${side}`).click();
    await page.getByTestId("arena-reveal").waitFor();
    expect(await page.getByTestId(`reveal-${side}`).textContent()).toMatch(/SQL Generation/);
    expect(await page.getByTestId(`reveal-${side === "a" ? "b" : "a"}`).textContent()).toMatch(/^Base model/);
    expect(await panes.nth(side === "a" ? 0 : 1).getAttribute("aria-label")).toMatch(/^A|^B/);
    // one vote per battle: every vote button is now off
    for (const v of ["a", "b", "tie", "both_bad"]) expect(await page.getByTestId(`vote-${v}`).isDisabled()).toBe(true);
    await expect.poll(() => board.getAttribute("data-votes")).toBe("1");
    const top = board.getByTestId("leaderboard-row").first();
    expect(await top.getAttribute("data-model")).toBe("sql");
    expect(Number(await top.getByTestId("leaderboard-rating").textContent())).toBeGreaterThan(1000);

    const shots = screenshotDir();
    await page.screenshot({ path: path.join(shots, "arena-desktop-light.png"), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();

    for (const [name, opts] of [
      ["desktop-dark", { viewport: { width: 1400, height: 1000 }, colorScheme: "dark" as const }],
      ["phone-light", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: "light" as const }],
      ["phone-dark", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: "dark" as const }],
    ] as const) {
      const p = await h.browser.newPage(opts);
      const errs = watchErrors(p);
      await p.goto(`${h.web.url}/arena?task=sql`);
      await p.waitForSelector('[data-testid="arena-start"]:not([disabled])');
      await p.getByTestId("arena-start").click();
      await expect.poll(() => p.getByTestId("arena-pane").evaluateAll((ps) => ps.map((x) => x.getAttribute("data-status"))), { timeout: 120_000 }).toEqual(["done", "done"]);
      await p.getByTestId("arena-diff-toggle").check();
      await p.getByTestId("vote-tie").click();
      await p.getByTestId("arena-reveal").waitFor();
      // nothing wider than the screen
      expect(await p.evaluate(() => document.documentElement.scrollWidth), name).toBeLessThanOrEqual(opts.viewport.width);
      await p.screenshot({ path: path.join(shots, `arena-${name}.png`), fullPage: true });
      expect(errs, name).toEqual([]);
      await p.close();
    }
  });

  it("highlights a JSON answer with Valid JSON ✓ (✗ for the base model on the same task), and SQL", async () => {
    const page = await h.browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = watchErrors(page);
    await page.goto(`${h.web.url}/compare?adapters=ner,base`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    const prompt = (await page.getByTestId("rendered-prompt").textContent())!;
    const [nerAnswer, baseAnswer] = await Promise.all([workerAnswer(h.worker.url, prompt, "ner", 96, h.worker.real), workerAnswer(h.worker.url, prompt, null, 96, h.worker.real)]);
    const parses = (s: string) => {
      try {
        JSON.parse(s);
        return true;
      } catch {
        return false;
      }
    };
    // what the page must say follows from the worker's own answers
    expect(parses(nerAnswer)).toBe(true);
    await page.getByTestId("run").click();
    const panes = page.getByTestId("compare-pane");
    await expect.poll(() => panes.evaluateAll((ps) => ps.map((p) => p.getAttribute("data-status"))), { timeout: 120_000 }).toEqual(["done", "done"]);
    const ner = panes.nth(0);
    await ner.getByTestId("code-output").waitFor();
    expect(await ner.getByTestId("json-validity").textContent()).toBe("Valid JSON ✓");
    expect(await ner.getByTestId("code-output").getAttribute("data-language")).toBe("json");
    expect(await ner.locator('[data-testid="code-output"] .hljs-attr').count()).toBeGreaterThan(0);
    // pretty-printed: the same value, two-space indented
    expect(await ner.getByTestId("code-output").textContent()).toBe(JSON.stringify(JSON.parse(nerAnswer), null, 2));
    expect(await ner.getByTestId("raw-output").textContent()).toBe(nerAnswer);
    const base = panes.nth(1);
    expect(await base.getByTestId("json-validity").getAttribute("data-valid")).toBe(String(parses(baseAnswer)));
    // (✗ carries the parser's reason for screen readers)
    expect(await base.getByTestId("json-validity").textContent()).toMatch(parses(baseAnswer) ? /^Valid JSON ✓$/ : /^Not valid JSON ✗: ./);
    // two panes: their answers diffed word by word, named by model; the diff's two sides are the answers
    await page.getByTestId("compare-diff-toggle").check();
    const diff = page.getByTestId("compare-diff");
    await diff.waitFor();
    expect(await diff.locator("p").first().textContent()).toBe("Word diff from Named Entity Recognition (synthetic news) to Base model: only in Named Entity Recognition (synthetic news) only in Base model");
    const sides = await diff.locator("p").nth(1).evaluate((el) => ({
      a: [...el.children].filter((c) => c.tagName !== "INS").map((c) => c.textContent).join(""),
      b: [...el.children].filter((c) => c.tagName !== "DEL").map((c) => c.textContent).join(""),
    }));
    expect(sides).toEqual({ a: nerAnswer, b: baseAnswer });

    await page.goto(`${h.web.url}/playground?adapter=sql`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await page.getByTestId("run").click();
    const pane = page.getByTestId("output-pane");
    await expect.poll(() => pane.getAttribute("data-status"), { timeout: 120_000 }).toBe("done");
    await pane.getByTestId("code-output").waitFor();
    expect(await pane.getByTestId("code-output").getAttribute("data-language")).toBe("sql");
    expect(await pane.locator('[data-testid="code-output"] .hljs-keyword').first().textContent()).toBe("SELECT");
    expect(await pane.getByTestId("json-validity").count()).toBe(0);
    await page.screenshot({ path: path.join(screenshotDir(), "code-answer-sql.png") });
    expect(errors).toEqual([]);
    await page.close();
  });
});
