/**
 * Issue 14's first-visit bugs, each checked in Chromium against the production server and the
 * real worker (desktop 1400 px and a 390 px phone):
 * - Ctrl+Enter runs in Template mode (the default), as the Run button says (item 3);
 * - the share popover closes with ✕, Escape and an outside click, does not cover the pane's
 *   Regenerate/Copy, and "Share" again shows the same link (item 4);
 * - fresh loads of /playground and /compare log no console error (hydration #418, item 1);
 * - no page scrolls sideways on a phone, the phone nav reaches Status and Add adapter, Run on a
 *   phone brings the output into view (item 5);
 * - bad ids answer the not-found page, no raw validation JSON is shown, the upload id's pattern
 *   works in current Chromium (item 6);
 * - a visitor in another time zone than the server's hydrates /chats (date groups) and a shared
 *   link (its time) without error; /favicon.ico answers the icon (item 8).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { browserAvailable, launchBrowser, startWebServer, type WebServer } from "./browser";
import { startTestWorker, workerAnswer, type TestWorker } from "./playground-harness";
import { dateGroup } from "../../components/history/export";

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const DESKTOP = { viewport: { width: 1400, height: 1000 } };

function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  return errors;
}

async function hydrated(page: Page): Promise<void> {
  await page.waitForFunction(() => !!document.querySelector("header a[href='/']") && "__next_f" in window);
}

async function paneStatus(page: Page): Promise<string | null> {
  return page.locator('[data-testid="output-pane"]').getAttribute("data-status");
}

/** Runs a short template-mode generation on the playground and waits for it to end. */
async function runOnce(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/playground?adapter=sql&p.max_new_tokens=4`);
  await page.waitForSelector('[data-testid="run"]:not([disabled])');
  await page.click('[data-testid="run"]');
  await expect.poll(() => paneStatus(page), { timeout: 60_000 }).toBe("done");
}

function overlaps(a: { x: number; y: number; width: number; height: number }, b: { x: number; y: number; width: number; height: number }): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

describe.runIf(browserAvailable())("first-visit bugs of issue 14 (browser)", () => {
  let worker: TestWorker;
  let web: WebServer;
  let browser: Browser;
  beforeAll(async () => {
    worker = await startTestWorker({ delayMs: 5 });
    web = await startWebServer({ worker: { url: worker.url } });
    browser = await launchBrowser();
  }, 900_000);
  afterAll(async () => {
    await browser?.close();
    await web?.stop();
    await worker?.stop();
  });

  it("Ctrl+Enter runs in Template mode (the default) from a template field", async () => {
    const page = await browser.newPage(DESKTOP);
    await page.goto(`${web.url}/playground?adapter=sql&p.max_new_tokens=4`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    expect(await page.getByTestId("mode-template").getAttribute("aria-selected")).toBe("true");
    const field = page.locator('[data-testid^="input-"]').first();
    await field.click();
    await page.keyboard.press("Control+Enter");
    await expect.poll(() => paneStatus(page), { timeout: 60_000 }).toBe("done");
    await page.close();
  });

  it("the share popover closes with ✕, Escape and an outside click, leaves the pane's buttons free, and keeps its link", async () => {
    const page = await browser.newPage(DESKTOP);
    const creates: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes("shares.create")) creates.push(r.url());
    });
    await runOnce(page, web.url);
    await page.click('[data-testid="share"]');
    const dialog = page.getByTestId("share-dialog");
    await dialog.waitFor();
    const link = await page.getByTestId("share-url").inputValue();
    expect(link).toMatch(/\/s\/[0-9A-Za-z]{12}$/);
    // the pane's own buttons stay reachable while the popover is open
    const box = (await dialog.boundingBox())!;
    for (const id of ["retry", "copy"]) {
      const b = (await page.locator(`[data-testid="output-pane"] [data-testid="${id}"]`).boundingBox())!;
      expect(overlaps(box, b), `share popover covers ${id}`).toBe(false);
    }
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });

    await page.click('[data-testid="share"]');
    await dialog.waitFor();
    expect(await page.getByTestId("share-url").inputValue()).toBe(link);
    await page.getByRole("button", { name: "Close" }).click();
    await dialog.waitFor({ state: "detached" });

    await page.click('[data-testid="share"]');
    await dialog.waitFor();
    await page.mouse.click(5, 500); // outside
    await dialog.waitFor({ state: "detached" });
    expect(await page.getByTestId("share").textContent()).toBe("Share");
    expect(creates.length).toBe(1);
    await page.close();
  });

  it("fresh loads of /playground and /compare log no console error (no hydration mismatch)", async () => {
    for (const opts of [DESKTOP, PHONE]) {
      for (const p of ["/playground?adapter=sql", "/compare?adapters=sql,base"]) {
        for (let i = 0; i < 2; i++) {
          const ctx = await browser.newContext(opts);
          const page = await ctx.newPage();
          const errors = collectErrors(page);
          await page.goto(`${web.url}${p}`, { waitUntil: "load" });
          await hydrated(page);
          await page.waitForSelector('[data-testid="run"]');
          await page.waitForTimeout(300);
          expect(errors, `${p} at ${opts.viewport.width}px`).toEqual([]);
          await ctx.close();
        }
      }
    }
  }, 400_000);

  it("a visitor in another time zone (UTC+14): /chats and a shared link hydrate without error and show local dates", async () => {
    const ctx = await browser.newContext({ ...DESKTOP, timezoneId: "Pacific/Kiritimati" });
    const page = await ctx.newPage();
    const errors = collectErrors(page);
    await runOnce(page, web.url);
    await page.click('[data-testid="share"]');
    const link = await page.getByTestId("share-url").inputValue();
    for (const url of [`${web.url}/chats`, link]) {
      const p = await ctx.newPage();
      const errs = collectErrors(p);
      await p.goto(url, { waitUntil: "load" });
      await hydrated(p);
      await p.waitForSelector(url === link ? '[data-testid="shared-view"]' : '[data-testid="history-item"]');
      await p.waitForTimeout(500);
      expect(errs, url).toEqual([]);
      if (url === link) {
        // after hydration the snapshot's time is the visitor's own (no "UTC" suffix)
        const shown = await p.getByTestId("shared-view").locator("header span").first().textContent();
        expect(shown).toMatch(/read-only snapshot · \d+\/\d+\/\d{4}, /);
      } else expect(await p.locator('[data-testid="history-list"] h3').first().textContent()).toBe("Today");
      await p.close();
    }
    expect(errors).toEqual([]);
    await ctx.close();
  });

  it("/favicon.ico answers the app's icon (asked for by browsers and tools that do not read <link rel=icon>)", async () => {
    const res = await fetch(`${web.url}/favicon.ico`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/image\/(x-icon|vnd\.microsoft\.icon)/);
    const ico = Buffer.from(await res.arrayBuffer());
    // ICONDIR: reserved 0, type 1 (icon), then at least one image
    expect([ico.readUInt16LE(0), ico.readUInt16LE(2), ico.readUInt16LE(4) > 0]).toEqual([0, 1, true]);
  });

  it("history date groups: UTC days before hydration, local days after", () => {
    // 09:00 UTC is 23:00 the same day in UTC+14, 14:45 UTC is 04:45 the next day there
    const chat = new Date("2026-12-01T09:00:00Z");
    const now = new Date("2026-12-01T14:45:00Z");
    expect(dateGroup(chat, now, { utc: true })).toBe("Today");
    expect(dateGroup(new Date("2026-11-30T23:59:00Z"), now, { utc: true })).toBe("Yesterday");
    expect(dateGroup(new Date("2026-10-02T12:00:00Z"), now, { utc: true })).toBe("October 2026");
  });

  it("on a 390 px phone: no sideways scroll, nav reaches every page, Run brings the output into view", async () => {
    const ctx: BrowserContext = await browser.newContext(PHONE);
    const page = await ctx.newPage();
    const errors = collectErrors(page);
    const scrollWidth = () => page.evaluate(() => document.documentElement.scrollWidth);

    // a stored chat and its share link to look at
    await runOnce(page, web.url);
    await page.waitForSelector('[data-testid="share"]');
    // after Run the output is on screen
    expect(await page.getByTestId("output-pane").evaluate((el) => { const r = el.getBoundingClientRect(); return r.top < window.innerHeight && r.bottom > 0; })).toBe(true);
    await page.click('[data-testid="share"]');
    const shareLink = await page.getByTestId("share-url").inputValue();
    await page.goto(`${web.url}/chats`);
    await page.click('[data-testid="history-item"] >> nth=0');
    await page.getByTestId("chat-generation").waitFor();
    expect(await scrollWidth(), "history entry").toBeLessThanOrEqual(390);
    await page.goto(shareLink);
    await page.getByTestId("shared-view").waitFor();
    expect(await scrollWidth(), "share page").toBeLessThanOrEqual(390);

    await page.goto(`${web.url}/?view=table`);
    await page.getByTestId("adapter-table").waitFor();
    expect(await scrollWidth(), "catalog table view").toBeLessThanOrEqual(390);

    for (const p of ["/", "/playground", "/compare", "/chats", "/status", "/adapters/new"]) {
      await page.goto(`${web.url}${p}`);
      await hydrated(page);
      expect(await scrollWidth(), p).toBeLessThanOrEqual(390);
    }

    // every nav link can be reached on screen (a menu, or wrapped; not cut off)
    await page.goto(`${web.url}/`);
    await hydrated(page);
    for (const [href, name] of [["/status", "Status"], ["/adapters/new", "Add adapter"]] as const) {
      const menu = page.getByRole("button", { name: /menu/i });
      if (await menu.count()) await menu.click();
      const a = page.locator(`header nav a[href="${href}"]`);
      await a.waitFor();
      const box = (await a.boundingBox())!;
      expect(box.x >= 0 && box.x + box.width <= 390, `${name} on screen (${box.x}+${box.width})`).toBe(true);
      await a.click();
      await page.waitForURL(new RegExp(`${href}$`));
    }

    // compare: panes follow each other without blank gaps
    await page.goto(`${web.url}/compare?adapters=sql,base&mode=raw&prompt=Hi&p.max_new_tokens=4`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await page.click('[data-testid="run"]');
    const panes = page.getByTestId("compare-pane");
    await expect.poll(async () => (await panes.evaluateAll((els) => els.map((e) => e.getAttribute("data-status")))).join(","), { timeout: 60_000 }).toBe("done,done");
    // both boxes read in one frame: Run scrolls the panes into view smoothly, and two separate
    // reads during that scroll see them at different offsets (CI once measured a 50 px "gap")
    const [a, b] = await panes.evaluateAll((els) => els.slice(0, 2).map((e) => { const r = e.getBoundingClientRect(); return { y: r.top, height: r.height }; }));
    expect(b!.y - (a!.y + a!.height), "gap between compare panes").toBeLessThan(40);
    expect(errors).toEqual([]);
    await ctx.close();
  }, 400_000);

  it("bad ids show the not-found page, no raw validation JSON is shown, the upload id pattern refuses 'my adapter!'", async () => {
    const page = await browser.newPage(DESKTOP);
    const bad = await page.goto(`${web.url}/chats/not-a-uuid`);
    expect(bad!.status()).toBe(404);
    await page.getByRole("heading", { name: "Not found" }).waitFor({ timeout: 5000 });

    // someone else's chat: the owner runs one, a fresh context (another person) opens its id
    await runOnce(page, web.url);
    await page.goto(`${web.url}/chats`);
    await page.click('[data-testid="history-item"] >> nth=0');
    await page.waitForURL(/\/chats\/[0-9a-f-]{36}$/);
    const chatUrl = page.url();
    // an empty rename is refused in words, not a JSON dump of the validator
    await page.click('[data-testid="rename"]');
    await page.fill('[data-testid="rename-input"]', "");
    await page.press('[data-testid="rename-input"]', "Enter");
    await page.waitForTimeout(1000);
    const alerts = await page.getByRole("alert").allTextContents();
    for (const t of alerts) expect(t).not.toMatch(/[[{]\s*"/);
    expect(await page.getByTestId("chat-title").count() + (await page.getByTestId("rename-input").count())).toBeGreaterThan(0);

    const other = await browser.newContext(DESKTOP);
    const theirs = await other.newPage();
    const res = await theirs.goto(chatUrl);
    expect(res!.status()).toBe(404);
    await theirs.getByRole("heading", { name: "Not found" }).waitFor({ timeout: 5000 });
    await other.close();

    await page.goto(`${web.url}/adapters/new`);
    await hydrated(page);
    const id = page.getByTestId("upload-id");
    await id.fill("my adapter!");
    expect(await id.evaluate((el: HTMLInputElement) => el.validity.patternMismatch)).toBe(true);
    await id.fill("my-adapter.v2_1");
    expect(await id.evaluate((el: HTMLInputElement) => el.validity.patternMismatch)).toBe(false);
    await page.close();
  });

  it("compare in Template mode: each pane gets its own adapter's template (with a hint); with 4 panes the pickers keep a full row", async () => {
    const page = await browser.newPage(DESKTOP);
    const bodies: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes("generate.start")) bodies.push(r.postData() ?? "");
    });
    await page.goto(`${web.url}/compare?adapters=sql,spam&p.max_new_tokens=4`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await page.getByTestId("template-hint").waitFor();
    // the spam template's own fields are asked for too
    await page.getByTestId("input-subject").fill("Cheap meds");
    await page.getByTestId("input-body").fill("Buy now!!!");
    await page.click('[data-testid="run"]');
    const panes = page.getByTestId("compare-pane");
    await expect.poll(async () => (await panes.evaluateAll((els) => els.map((e) => e.getAttribute("data-status")))).join(","), { timeout: 60_000 }).toBe("done,done");
    expect(bodies.length).toBe(1);
    // the start call's body: {"json": {...input}}
    const findPrompts = (v: unknown): string[] | undefined => {
      if (!v || typeof v !== "object") return undefined;
      if (Array.isArray((v as { prompts?: unknown }).prompts)) return (v as { prompts: string[] }).prompts;
      for (const x of Object.values(v)) {
        const found = findPrompts(x);
        if (found) return found;
      }
      return undefined;
    };
    const prompts = findPrompts(JSON.parse(bodies[0]!)) ?? [];
    expect(prompts.length).toBe(2);
    expect(prompts[1]).toContain("Classify the following email as spam or ham");
    expect(prompts[1]).toContain("Subject: Cheap meds");
    expect(prompts[0]).not.toContain("Classify the following email");
    const texts = await panes.locator('[data-testid="raw-output"]').allTextContents();
    expect(texts[1]).toBe(await workerAnswer(worker.url, prompts[1]!, "spam", 4, worker.real));
    expect(texts[0]).toBe(await workerAnswer(worker.url, prompts[0]!, "sql", 4, worker.real));

    await page.goto(`${web.url}/compare?adapters=sql,spam,sentiment,base&mode=raw&prompt=Hi&p.max_new_tokens=2`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    const four = page.getByTestId("compare-pane");
    expect(await four.count()).toBe(4);
    for (let i = 0; i < 4; i++) {
      const pane = (await four.nth(i).boundingBox())!;
      const select = (await page.getByTestId(`pane-model-${i}`).boundingBox())!;
      expect(select.width, `pane ${i}'s picker`).toBeGreaterThan(pane.width * 0.75);
    }
    // a name cut short by a narrow picker is whole on hover
    const titles = await Promise.all([0, 1, 2, 3].map((i) => page.getByTestId(`pane-model-${i}`).getAttribute("title")));
    expect(titles).toEqual(["SQL Generation (WikiSQL style, synthetic)", "Email Spam Detection (SpamAssassin)", "Sentiment Detection (AFINN-scored reviews)", "Base model (no adapter)"]);
    await page.close();
  }, 200_000);
});
