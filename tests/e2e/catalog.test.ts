/**
 * The catalog in a real browser (Chromium via playwright-core) against the production build:
 * all 27 LoRA Land adapters with their published figures, sorting, filtering, search, an adapter
 * page, the status page with the worker offline, the owner cookie, screenshots in test-results/.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb, pgliteDirFor } from "../../db/client";
import { prepareDb } from "../../db/migrate";
import { loraLandSlug, parseCsv } from "../../db/seed";
import { upsertMeasuredMetric } from "../../server/db-queries/catalog";
import { browserAvailable, launchBrowser, ROOT, startWebServer, type WebServer } from "./browser";

const OUT = path.join(ROOT, "test-results");
const csv = parseCsv(fs.readFileSync(path.join(ROOT, "data/catalog/lora-land-published-metrics.csv"), "utf8"));
const rows: (Record<string, string> & { slug: string })[] = csv.map((r) => ({ ...r, slug: loraLandSlug(r) }));

describe.runIf(browserAvailable())("catalog in Chromium", () => {
  let server: WebServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    fs.mkdirSync(OUT, { recursive: true });
    server = await startWebServer({ worker: "none" });
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function cellValues(col: string): Promise<(number | null)[]> {
    const texts = await page.locator(`[data-testid=adapter-row] td[data-col=${col}]`).allTextContents();
    return texts.map((t) => (t.trim() === "—" ? null : Number(t)));
  }

  it("shows all 27 LoRA Land adapters with their published figures, server-rendered", async () => {
    // the first HTML already holds the catalog (prefetched on the server, hydrated on the client)
    const html = await (await fetch(server.url)).text();
    for (const r of rows) expect(html).toContain(`data-slug="${r.slug}"`);

    await page.goto(server.url);
    await expect.poll(() => page.getByTestId("adapter-card").count()).toBe(36);
    for (const r of rows) await expect(page.locator(`[data-testid=adapter-card][data-slug="${r.slug}"]`).count()).resolves.toBe(1);
    await expect(page.getByTestId("figure-source").first().textContent()).resolves.toBe("Published by Predibase");
    await expect(page.getByTestId("lift-summary").textContent()).resolves.toContain("25 of 27");

    await page.getByTestId("view-table").click();
    for (const r of rows) {
      const row = page.locator(`[data-testid=adapter-row][data-slug="${r.slug}"]`);
      const cells = await Promise.all(
        ["fine_tuned", "gpt_4", "gpt_35_turbo", "mistral_7b_instruct", "base"].map((c) => row.locator(`td[data-col=${c}]`).textContent()),
      );
      expect(cells, r.adapter_name).toEqual([r.fine_tuned, r.gpt_4, r.gpt_35_turbo, r.mistral_7b_instruct, r.mistral_7b].map((v) => Number(v).toFixed(2)));
      await expect(row.textContent()).resolves.toContain("Published by Predibase");
    }
    await page.screenshot({ path: path.join(OUT, "catalog-table.png"), fullPage: false });
  });

  it("sorts the table by a score, both ways, and by name", async () => {
    await page.getByTestId("sort-fine_tuned").click();
    const desc = await cellValues("fine_tuned");
    const descNums = desc.filter((v): v is number => v !== null);
    expect(descNums.length).toBe(27);
    expect(descNums).toEqual([...descNums].sort((a, b) => b - a));
    expect(desc.slice(descNums.length).every((v) => v === null)).toBe(true); // unscored last
    await expect(page.locator("th[aria-sort=descending]").textContent()).resolves.toContain("Fine-tuned");

    await page.getByTestId("sort-fine_tuned").click();
    const asc = (await cellValues("fine_tuned")).filter((v): v is number => v !== null);
    expect(asc).toEqual([...asc].sort((a, b) => a - b));
    expect(asc[0]).toBe(0.11); // magicoder

    await page.getByTestId("sort-lift").click();
    const lifts = (await cellValues("lift")).filter((v): v is number => v !== null);
    expect(lifts[0]).toBeCloseTo(0.95); // dbpedia
    expect(lifts.at(-1)).toBeCloseTo(-0.71); // magicoder

    await page.getByTestId("sort-name").click();
    const names = await page.locator("[data-testid=adapter-row] th").allTextContents();
    expect(names).toEqual([...names].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));
  });

  it("filters by category, metric, collection and search", async () => {
    const academic = rows.length && (await page.locator("[data-testid=adapter-row]").count());
    expect(academic).toBe(36);

    await page.getByTestId("filter-category").selectOption("Academic Benchmarks");
    await expect.poll(() => page.getByTestId("adapter-row").count()).toBe(5);
    const cats = await page.locator("[data-testid=adapter-row] td:nth-of-type(1)").allTextContents();
    expect(new Set(cats)).toEqual(new Set(["Academic Benchmarks"]));

    await page.getByTestId("filter-metric").selectOption("stsb");
    await expect.poll(() => page.getByTestId("adapter-row").count()).toBe(1);
    await expect(page.getByTestId("adapter-row").getAttribute("data-slug")).resolves.toBe("glue_stsb");

    await page.getByTestId("filter-category").selectOption("");
    await page.getByTestId("filter-metric").selectOption("humaneval");
    await expect.poll(() => page.getByTestId("adapter-row").count()).toBe(1);
    await expect(page.getByTestId("adapter-row").getAttribute("data-slug")).resolves.toBe("magicoder");

    await page.getByTestId("filter-metric").selectOption("");
    await page.getByTestId("filter-collection").selectOption("runs-here");
    await expect.poll(() => page.getByTestId("adapter-row").count()).toBe(9);

    await page.getByTestId("filter-collection").selectOption("all");
    await page.getByTestId("catalog-search").fill("tweet");
    await expect.poll(() => page.getByTestId("adapter-row").count()).toBe(1);
    await expect(page.getByTestId("adapter-row").getAttribute("data-slug")).resolves.toBe("covid");
    await page.getByTestId("catalog-search").fill("zzz-no-such-adapter");
    await expect.poll(() => page.getByTestId("adapter-row").count()).toBe(0);
    await expect(page.getByTestId("result-count").textContent()).resolves.toBe("0 of 36 adapters");
    await page.getByTestId("catalog-search").fill("");
    await expect.poll(() => page.getByTestId("adapter-row").count()).toBe(36);
  });

  it("keeps filters in the URL, so a filtered view can be linked", async () => {
    await page.goto(server.url);
    await page.getByTestId("filter-category").selectOption("Topic Identification");
    await page.getByTestId("view-table").click();
    await expect.poll(() => page.url()).toContain("category=Topic+Identification");
    expect(page.url()).toContain("view=table");

    const fresh = await browser.newPage();
    await fresh.goto(`${server.url}/?view=table&category=Academic+Benchmarks&sort=fine_tuned:-1`);
    await expect.poll(() => fresh.getByTestId("adapter-row").count()).toBe(5);
    const ft = await fresh.locator("[data-testid=adapter-row] td[data-col=fine_tuned]").allTextContents();
    expect(ft.map(Number)).toEqual([0.88, 0.87, 0.87, 0.86, 0.45]); // QQP, CoLA, MNLI, MRPC, STSB
    await fresh.close();
  });

  it("opens an adapter page from the catalog", async () => {
    await page.goto(server.url);
    await page.locator("[data-testid=adapter-card][data-slug=conllpp] [data-testid=adapter-link]").click();
    await page.waitForURL(`${server.url}/adapters/conllpp`);
    await expect(page.locator("h1").textContent()).resolves.toBe("Named Entity Recognition (CoNLL++)");
    await expect(page.getByTestId("prompt-template").textContent()).resolves.toContain("Input: {input} Output:");
    await expect(page.getByTestId("hf-link").getAttribute("href")).resolves.toBe("https://huggingface.co/predibase/conllpp");
    await expect(page.getByTestId("metric-chart").getAttribute("aria-label")).resolves.toContain("Fine-tuned 0.99");
    await expect(page.getByTestId("run-reason").textContent()).resolves.toBe("The inference worker is offline.");
    await expect(page.getByTestId("try-it-disabled").count()).resolves.toBe(1);
    await page.screenshot({ path: path.join(OUT, "adapter-conllpp.png"), fullPage: true });

    await page.goto(`${server.url}/adapters/ner`);
    await expect(page.getByTestId("sample-inputs").locator("li").count()).resolves.toBe(3);
    const res = await page.goto(`${server.url}/adapters/does-not-exist`);
    expect(res!.status()).toBe(404);
  });

  it("shows the worker offline on the status page and in the banner", async () => {
    await page.goto(`${server.url}/status`);
    await expect(page.getByTestId("worker-state").getAttribute("data-state")).resolves.toBe("offline");
    await page.getByTestId("worker-offline-banner").first().waitFor({ state: "visible" });
    await page.screenshot({ path: path.join(OUT, "status-offline.png") });
  });

  it("gives the visitor an httpOnly SameSite=Lax owner cookie", async () => {
    const cookies = await page.context().cookies(server.url);
    const owner = cookies.find((c) => c.name === "owner");
    expect(owner).toMatchObject({ httpOnly: true, sameSite: "Lax" });
    expect(owner!.value).toMatch(/^[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/); // signed: <uuid>.<hmac>
  });

  it("is keyboard navigable: skip link first, sorting from the keyboard", async () => {
    await page.goto(server.url);
    await page.keyboard.press("Tab");
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe("Skip to content");
    await page.getByTestId("view-table").focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("sort-gpt_4").focus();
    await page.keyboard.press("Enter");
    const gpt4 = (await cellValues("gpt_4")).filter((v): v is number => v !== null);
    expect(gpt4[0]).toBe(0.95); // SST2 and CoLA's GPT-4 scores lead
    expect(gpt4).toEqual([...gpt4].sort((a, b) => b - a));
  });

  it("switches to dark mode and remembers it", async () => {
    await page.goto(server.url);
    const dark = () => page.evaluate(() => document.documentElement.classList.contains("dark"));
    expect(await dark()).toBe(false);
    await page.getByRole("button", { name: "Switch to dark theme" }).click();
    expect(await dark()).toBe(true);
    await page.reload();
    expect(await dark()).toBe(true);
    // secondary (slate-500) text reads as slate-400 on the dark background (slate-500 is under AA's 4.5:1 there)
    const colors = await page.evaluate(() => {
      const probe = document.createElement("span");
      probe.className = "text-slate-400";
      document.body.append(probe);
      const want = getComputedStyle(probe).color;
      probe.remove();
      const secondary = document.querySelector("[data-testid=figure-n]")!.closest(".text-slate-500") ?? document.querySelector(".text-slate-500")!;
      return { want, got: getComputedStyle(secondary).color };
    });
    expect(colors.got).toBe(colors.want);
    // links read as links: brand-300 blue, not the near-white of the text around them
    const link = page.locator("[data-testid=adapter-card]").first().getByRole("link", { name: "Details" });
    await expect(link.evaluate((el) => getComputedStyle(el).color)).resolves.toBe("rgb(138, 184, 255)");
    await page.getByRole("button", { name: "Switch to light theme" }).click();
    expect(await dark()).toBe(false);
  });

  it("fits a phone screen without sideways scrolling", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    await p.goto(server.url);
    await p.getByTestId("adapter-grid").waitFor();
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await p.screenshot({ path: path.join(OUT, "catalog-phone.png") });
    await phone.close();
  });

  it("saves a full-page screenshot of the catalog", async () => {
    await page.goto(server.url);
    await page.getByTestId("adapter-grid").waitFor();
    const file = path.join(OUT, "catalog.png");
    await page.screenshot({ path: file, fullPage: true });
    expect(fs.statSync(file).size).toBeGreaterThan(50_000);
  });
});

describe.runIf(browserAvailable())("figures measured here, in Chromium", () => {
  let server: WebServer;
  let browser: Browser;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-measured-"));

  beforeAll(async () => {
    // what an eval run leaves in the database, written before the app opens it (PGlite: one process)
    const h = await openDb({ pgliteDir: pgliteDirFor(dataDir) });
    await prepareDb(h, ROOT);
    const at = new Date("2026-11-20T10:00:00Z");
    for (const [slug, ft, base] of [["sql", 0.92, 0.0], ["sentiment", 0.97, 0.41]] as const) {
      await upsertMeasuredMetric(h.db, { adapterSlug: slug, modelLabel: "fine_tuned", metricName: slug === "sql" ? "exact_match" : "accuracy", value: ft, examples: 500, measuredAt: at, measuredBy: "eval run e2e" });
      await upsertMeasuredMetric(h.db, { adapterSlug: slug, modelLabel: "base", metricName: slug === "sql" ? "exact_match" : "accuracy", value: base, examples: 500, measuredAt: at, measuredBy: "eval run e2e" });
    }
    await h.close();
    server = await startWebServer({ worker: "none", dataDir });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("labels measured figures as measured here, apart from the published ones", async () => {
    const page = await browser.newPage();
    await page.goto(server.url);
    await expect(page.getByTestId("measured-lift").textContent()).resolves.toContain("2 of 2 adapters beat their base model · Measured here");
    const card = page.locator("[data-testid=adapter-card][data-slug=sql]");
    await expect(card.getByTestId("figure-source").textContent()).resolves.toBe("Measured here");
    await expect(card.getByTestId("metric-chart-compact").getAttribute("aria-label")).resolves.toBe("exact_match: Fine-tuned 0.92, loraland-mini (base) 0.00");
    await page.getByTestId("view-table").click();
    const row = page.locator("[data-testid=adapter-row][data-slug=sentiment]");
    await expect(row.locator("td[data-col=fine_tuned]").textContent()).resolves.toBe("0.97");
    await expect(row.locator("td[data-col=base]").textContent()).resolves.toBe("0.41");
    await expect(row.locator("td[data-col=gpt_4]").textContent()).resolves.toBe("—");
    await expect(row.textContent()).resolves.toContain("Measured here");
    await expect(page.locator("[data-testid=adapter-row][data-slug=conllpp]").textContent()).resolves.toContain("Published by Predibase");
    await page.goto(`${server.url}/adapters/sql`);
    await expect(page.getByText("eval run e2e").count()).resolves.toBe(1);
    await page.screenshot({ path: path.join(OUT, "adapter-measured.png"), fullPage: true });
    await page.close();
  });

  it("an eval page offers no run, and promises none, where the adapter cannot be evaluated", async () => {
    const page = await browser.newPage();
    // conllpp: no task card here; sql: its card, but the worker is offline
    for (const [slug, why] of [["conllpp", "eval-no-task"], ["sql", "eval-not-runnable"]]) {
      await page.goto(`${server.url}/adapters/${slug}/eval`);
      await page.getByTestId(why).waitFor();
      await expect(page.getByTestId("eval-start").count()).resolves.toBe(0);
      if (slug === "conllpp") await expect(page.getByTestId("eval-empty").textContent()).resolves.toBe("No eval run yet.");
    }
    await page.close();
  });
});


describe.runIf(!!process.env.DATABASE_URL)("the web server on a Postgres server", () => {
  const dbName = `t_web_${Date.now().toString(36)}`;
  let admin: ReturnType<typeof postgres>;
  let server: WebServer;

  beforeAll(async () => {
    admin = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${dbName}`);
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${dbName}`;
    server = await startWebServer({ worker: "none", env: { DATABASE_URL: url.toString() } });
  });
  afterAll(async () => {
    await server?.stop();
    await admin?.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin?.end();
  });

  it("migrates, seeds and serves the catalog from Postgres", async () => {
    const html = await (await fetch(server.url)).text();
    for (const r of rows) expect(html).toContain(`data-slug="${r.slug}"`);
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${dbName}`;
    const db = postgres(url.toString(), { max: 1, onnotice: () => {} });
    try {
      const [{ adapters }] = await db`select count(*)::int as adapters from adapters`;
      const [{ published }] = await db`select count(*)::int as published from metrics where source = 'published'`;
      expect({ adapters, published }).toEqual({ adapters: 36, published: 135 });
    } finally {
      await db.end();
    }
    const page = await (await fetch(`${server.url}/adapters/conllpp`)).text();
    expect(page).toContain("Named Entity Recognition (CoNLL++)");
  });
});
