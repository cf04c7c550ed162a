/**
 * README screenshots under docs/screenshots/, from an instance this starts (or BASE_URL's):
 *
 *   npx tsx scripts/screenshots.ts                 the catalog, adapter and status pages (no worker)
 *   WITH_WORKER=1 npx tsx scripts/screenshots.ts   the tools too: starts the bundled worker, scores
 *       EVAL (default sentiment,sql) on the full test splits with `npm run eval` (the catalog's
 *       measured figures, with their intervals), then uses the pages as a visitor would — a
 *       conversation regenerated into three versions, a preset and a thumbs up, a blind arena
 *       battle, JSON answers side by side, two short eval runs to compare, an uploaded adapter —
 *       and shoots each tool
 *   SURVEY=<dir> (with WITH_WORKER=1)              after the set-up, every page at 1280 and 390 px,
 *       light and dark, full page, into <dir> instead; prints what each page logged as an error
 *       (console, uncaught, HTTP ≥ 400, React hydration) and any sideways overflow. The browser's
 *       time zone is UTC+14 (the server's is not): dates rendered differently on the two sides show up
 *       as hydration errors.
 *
 * BASE_URL=http://localhost:3000 uses a running instance for the catalog pages (no set-up).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { startWorker, type WorkerProcess } from "../server/eval/worker-process";
import { launchBrowser, ROOT, startWebServer, type WebServer } from "../tests/e2e/browser";

const OUT = path.join(ROOT, "docs/screenshots");
const WITH_WORKER = !!process.env.WITH_WORKER;
const SURVEY = process.env.SURVEY ? path.resolve(process.env.SURVEY) : null;
const EVAL = (process.env.EVAL ?? "sentiment,sql").split(",").filter(Boolean);
/** far from any server's zone: a date formatted on both sides differs (see SURVEY) */
const BROWSER_TZ = "Pacific/Kiritimati";

interface Shot {
  name: string;
  path: string;
  dark?: boolean;
  width?: number;
  height?: number;
  full?: boolean;
  /** what to do on the page before the shot */
  prepare?: (page: Page) => Promise<void>;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
type StorageState = Awaited<ReturnType<BrowserContext["storageState"]>>;

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const statusOf = async (pane: Locator) => (await pane.getAttribute("aria-label"))?.split(/:\s*/).at(-1) ?? "";
const paneDone = (pane: Locator, what: string) => until(what, async () => ["done", "stopped", "error"].includes(await statusOf(pane)));

function runCli(args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), path.join(ROOT, "scripts/eval.ts"), ...args], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: "", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d) => (err = (err + d).slice(-4000)));
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`npm run eval exited ${code}:\n${err}`))));
  });
}

/** What the tools show: made through the pages themselves (and `npm run eval` for the catalog figures). */
async function setUp(browser: Browser, web: WebServer, worker: WorkerProcess): Promise<{ chatId: string; shareSlug: string; owner: StorageState }> {
  if (EVAL.length) {
    log(`[screenshots] npm run eval -- --adapters ${EVAL.join(",")} (full test splits)…`);
    await runCli(["--adapters", EVAL.join(","), "--no-compare", "--concurrency", "8"], { INFERENCE_URL: worker.url, DATA_DIR: web.dataDir, PORT: String(web.port) });
  }
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: BROWSER_TZ });
  const page = await ctx.newPage();
  const base = web.url;
  const errors = watch(page);
  try {
    return await visit(ctx, page, base);
  } catch (err) {
    const file = path.join(os.tmpdir(), "screenshots-setup-failure.png");
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    throw new Error(`set-up failed on ${page.url()} (screenshot: ${file}; page errors: ${errors.join(" | ") || "none"}): ${(err as Error).message}`);
  } finally {
    await ctx.close();
  }
}

async function visit(ctx: BrowserContext, page: Page, base: string): Promise<{ chatId: string; shareSlug: string; owner: StorageState }> {

  log("[screenshots] a conversation with three versions, a preset, a thumbs up…");
  await page.goto(`${base}/playground?adapter=sentiment&in.review=${encodeURIComponent("The plot dragged, but the acting was superb.")}&p.max_new_tokens=8&p.temperature=1`);
  await page.waitForSelector('[data-testid="run"]:not([disabled])');
  const pane = page.getByTestId("output-pane");
  await page.getByTestId("run").click();
  await paneDone(pane, "the first answer");
  for (let n = 2; n <= 3; n++) {
    await page.getByTestId("retry").click();
    await until(`version ${n}`, async () => (await page.getByTestId("version-count").textContent()) === `${n}/${n}` && ["done", "stopped"].includes(await statusOf(pane)));
  }
  await pane.getByTestId("thumbs-up").click();
  await page.getByTestId("preset-save").click();
  await page.getByTestId("preset-name").fill("Sentiment, 8 tokens, warm");
  await page.getByTestId("preset-name-save").click();
  await until("the preset", async () => (await page.getByTestId("preset-select").locator("option", { hasText: "Sentiment, 8 tokens" }).count()) > 0);
  await page.click('[data-testid="share"]');
  const shareUrl = await until("the share link", async () => page.locator('[data-testid="share-url"]').inputValue());
  const shareSlug = shareUrl.split("/s/")[1]!;
  await page.goto(`${base}/chats`);
  await page.getByTestId("history-item").first().click();
  await page.getByTestId("chat-title").waitFor();
  const chatId = page.url().split("/chats/")[1]!.split(/[?#]/)[0]!;

  log("[screenshots] a blind arena battle…");
  await page.goto(`${base}/arena?task=sql`);
  await page.waitForSelector('[data-testid="arena-start"]:not([disabled])');
  await page.getByTestId("arena-start").click();
  const panes = page.getByTestId("arena-pane");
  await until("both arena answers", async () => (await panes.evaluateAll((ps) => ps.map((p) => p.getAttribute("data-status")))).every((s) => s === "done"));
  await page.getByTestId("vote-a").click();
  await page.getByTestId("arena-reveal").waitFor();

  log("[screenshots] two short eval runs…");
  await page.goto(`${base}/adapters/sentiment/eval`);
  for (const limit of ["5", "20"]) {
    await page.getByTestId("eval-limit").selectOption(limit);
    await page.getByTestId("eval-start").click();
    await until(`the ${limit}-example run`, async () => (await page.getByTestId("eval-progress").textContent())?.includes(`${Number(limit) * 2}/${Number(limit) * 2} requests`) && (await page.getByTestId("eval-progress").getAttribute("data-status")) === "done");
  }

  log("[screenshots] an uploaded adapter…");
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "shots-upload-"));
  const dir = path.join(folder, "my-sentiment");
  fs.mkdirSync(dir);
  for (const f of ["adapter_config.json", "adapter_model.safetensors"]) fs.copyFileSync(path.join(ROOT, "data/demo/adapters/sentiment", f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, "README.md"), "# my sentiment adapter\n");
  await page.goto(`${base}/adapters/new`);
  await page.getByTestId("upload-id").fill("my-sentiment");
  await page.getByTestId("upload-task").selectOption("sentiment");
  await page.getByTestId("upload-description").fill("My copy of the bundled sentiment adapter, for film reviews.");
  await page.getByTestId("upload-sample-review").fill("A slow start, then two hours I would gladly watch again.");
  await page.getByTestId("upload-folder").setInputFiles(dir);
  await page.getByTestId("upload-submit").click();
  await until("the upload", async () => (await page.getByTestId("upload-ok").count()) > 0, 120_000);
  fs.rmSync(folder, { recursive: true, force: true });
  // the shots and the survey look as this visitor (its owner cookie: its chats, presets, uploads)
  return { chatId, shareSlug, owner: await ctx.storageState() };
}

/** The README's shots of the tools (after setUp). */
function toolShots(chatId: string): Shot[] {
  const runPane = (selector: string) => async (page: Page) => {
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await page.getByTestId("run").click();
    const panes = page.locator(selector);
    await until("the answers", async () => {
      const states = await panes.evaluateAll((ps) => ps.map((p) => p.getAttribute("data-status")));
      return states.length > 0 && states.every((s) => s === "done");
    });
  };
  return [
    { name: "playground", path: "/playground?adapter=ner", prepare: runPane('[data-testid="output-pane"]'), height: 1000 },
    {
      name: "compare",
      path: "/compare?adapters=e2e,base",
      height: 1300,
      prepare: async (page) => {
        await runPane('[data-testid="compare-pane"]')(page);
        await page.getByTestId("compare-diff-toggle").check();
        await page.getByTestId("compare-diff").waitFor();
      },
    },
    { name: "structured-output", path: "/compare?adapters=ner,base", prepare: runPane('[data-testid="compare-pane"]'), height: 1000 },
    {
      name: "arena",
      path: "/arena?task=ner",
      height: 1300,
      prepare: async (page) => {
        await page.waitForSelector('[data-testid="arena-start"]:not([disabled])');
        await page.getByTestId("arena-start").click();
        const panes = page.getByTestId("arena-pane");
        await until("both arena answers", async () => (await panes.evaluateAll((ps) => ps.map((p) => p.getAttribute("data-status")))).every((s) => s === "done"));
        await page.getByTestId("arena-diff-toggle").check();
        await page.getByTestId("arena-diff").waitFor();
      },
    },
    { name: "conversation", path: `/chats/${chatId}`, height: 1000, prepare: async (page) => void (await page.getByTestId("version-count").waitFor()) },
    {
      name: "presets",
      path: "/playground?adapter=ner",
      height: 1000,
      prepare: async (page) => {
        await page.waitForSelector('[data-testid="run"]:not([disabled])');
        const option = page.getByTestId("preset-select").locator("option", { hasText: "Sentiment, 8 tokens" });
        await page.getByTestId("preset-select").selectOption((await option.getAttribute("value"))!);
        await page.getByTestId("preset-load").click();
        await until("the preset's adapter", async () => (await page.getByTestId("model-select").inputValue()) === "sentiment");
        await runPane('[data-testid="output-pane"]')(page);
        await page.getByTestId("output-pane").getByTestId("thumbs-up").click();
      },
    },
    { name: "eval", path: "/adapters/sentiment/eval", full: true, prepare: async (page) => void (await page.getByTestId("eval-compare").getByTestId("compare-summary").waitFor()) },
    { name: "adapter-measured", path: "/adapters/sentiment", height: 1300 },
    { name: "adapters-manage", path: "/adapters/new", height: 1200, prepare: async (page) => void (await page.getByTestId("my-adapter").first().waitFor()) },
  ];
}

const CATALOG_SHOTS: Shot[] = [
  { name: "catalog", path: "/", full: false, height: 1600 },
  { name: "catalog-table", path: "/?view=table&sort=lift:-1", prepare: async (page) => page.locator("#all-heading").evaluate((el) => el.scrollIntoView()) },
  { name: "adapter", path: "/adapters/ner", height: 1400 },
  { name: "adapter-loraland", path: "/adapters/conllpp", height: 1200 },
  { name: "status", path: "/status" },
  { name: "catalog-dark", path: "/", dark: true },
  { name: "catalog-phone", path: "/", width: 390, height: 844 },
];

/** Every page, for SURVEY. */
function surveyPages(chatId: string, shareSlug: string): [string, string][] {
  return [
    ["catalog", "/"],
    ["catalog-table", "/?view=table"],
    ["adapter-ner", "/adapters/ner"],
    ["adapter-sentiment", "/adapters/sentiment"],
    ["adapter-conllpp", "/adapters/conllpp"],
    ["adapter-mine", "/adapters/my-sentiment"],
    ["eval", "/adapters/sentiment/eval"],
    ["eval-conllpp", "/adapters/conllpp/eval"],
    ["adapters-new", "/adapters/new"],
    ["playground", "/playground?adapter=ner"],
    ["playground-chat", "/playground?adapter=sentiment&mode=chat"],
    ["playground-mine", "/playground?adapter=my-sentiment"],
    ["compare", "/compare?adapters=ner,sql,sentiment,base"],
    ["arena", "/arena"],
    ["chats", "/chats"],
    ["chat", `/chats/${chatId}`],
    ["chat-bad-id", "/chats/not-a-uuid"],
    ["share", `/s/${shareSlug}`],
    ["status", "/status"],
    ["admin", "/admin"],
    ["not-found", "/no-such-page"],
  ];
}

function watch(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text().slice(0, 300)}`);
  });
  page.on("pageerror", (e) => errors.push(`uncaught: ${e.message.slice(0, 300)}`));
  page.on("response", (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.url()}`);
  });
  return errors;
}

async function survey(browser: Browser, base: string, pages: [string, string][], owner: StorageState): Promise<void> {
  fs.mkdirSync(SURVEY!, { recursive: true });
  const views: [string, { width: number; height: number }, boolean][] = [
    ["desktop-light", { width: 1280, height: 900 }, false],
    ["desktop-dark", { width: 1280, height: 900 }, true],
    ["phone-light", { width: 390, height: 844 }, false],
    ["phone-dark", { width: 390, height: 844 }, true],
  ];
  for (const [view, viewport, dark] of views) {
    const ctx: BrowserContext = await browser.newContext({ viewport, colorScheme: dark ? "dark" : "light", timezoneId: BROWSER_TZ, isMobile: viewport.width < 500, hasTouch: viewport.width < 500, storageState: owner });
    for (const [name, p] of pages) {
      const page = await ctx.newPage();
      const errors = watch(page);
      await page.goto(base + p, { waitUntil: "load" });
      await page.waitForTimeout(2000);
      const overflow = await page.evaluate(() => {
        const w = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll("body *")].filter((el) => el.getBoundingClientRect().right > w + 1 && getComputedStyle(el).position !== "fixed");
        // the outermost offenders (not their children), as tag#id.class
        const outer = wide.filter((el) => !wide.includes(el.parentElement!));
        return { scroll: document.documentElement.scrollWidth, width: w, offenders: outer.slice(0, 5).map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}[${(el.getAttribute("data-testid") ?? el.className.toString()).slice(0, 60)}]`) };
      });
      const file = path.join(SURVEY!, `${name}-${view}.png`);
      await page.screenshot({ path: file, fullPage: true });
      const wide = overflow.scroll > overflow.width ? `scrolls sideways: ${overflow.scroll} > ${overflow.width} (${overflow.offenders.join(", ")})` : "";
      console.log(`${name} ${view}: ${[wide, ...errors].filter(Boolean).join(" | ") || "ok"}`);
      await page.close();
    }
    await ctx.close();
  }
}

async function shoot(browser: Browser, base: string, shots: Shot[], owner?: StorageState): Promise<void> {
  fs.mkdirSync(OUT, { recursive: true });
  for (const p of shots) {
    const ctx = await browser.newContext({ viewport: { width: p.width ?? 1280, height: p.height ?? 900 }, colorScheme: p.dark ? "dark" : "light", storageState: owner });
    const page = await ctx.newPage();
    const errors = watch(page);
    await page.goto(base + p.path, { waitUntil: "load" });
    await page.waitForTimeout(1500);
    await p.prepare?.(page);
    await page.waitForTimeout(300);
    const file = path.join(OUT, `${p.name}.png`);
    await page.screenshot({ path: file, fullPage: p.full ?? false });
    console.log(`${file}${errors.length ? ` — errors: ${errors.join(" | ")}` : ""}`);
    await ctx.close();
  }
}

async function main() {
  if (SURVEY && !WITH_WORKER) throw new Error("SURVEY needs WITH_WORKER=1 (its pages show what the set-up made)");
  if (WITH_WORKER && process.env.BASE_URL) throw new Error("WITH_WORKER starts its own instance: unset BASE_URL");
  const browser = await launchBrowser();
  let worker: WorkerProcess | null = null;
  let web: WebServer | null = null;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-shots-"));
  try {
    if (WITH_WORKER) {
      worker = await startWorker({ root: ROOT, modelDir: path.join(ROOT, "data/demo/base"), adaptersDir: path.join(ROOT, "data/demo/adapters"), modelId: "loraland-mini", env: { DATA_DIR: dataDir } });
      web = await startWebServer({ worker: { url: worker.url }, dataDir });
      const { chatId, shareSlug, owner } = await setUp(browser, web, worker).catch(async (err: Error) => {
        throw new Error(`${err.message}\nserver log:\n${web!.output().slice(-3000)}`);
      });
      if (SURVEY) await survey(browser, web.url, surveyPages(chatId, shareSlug), owner);
      else await shoot(browser, web.url, [...CATALOG_SHOTS, ...toolShots(chatId)], owner);
    } else {
      if (!process.env.BASE_URL) web = await startWebServer({ worker: "none", dataDir });
      await shoot(browser, process.env.BASE_URL ?? web!.url, CATALOG_SHOTS);
    }
  } finally {
    await browser.close();
    await web?.stop();
    await worker?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
