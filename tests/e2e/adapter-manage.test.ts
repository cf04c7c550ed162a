/**
 * Managing uploaded adapters (issue 14 item 15), against the production server:
 * - the route (GET/PATCH/DELETE /api/adapters) on PGlite, and on Postgres when DATABASE_URL is
 *   set: an owner lists, renames, describes, gives sample inputs to and deletes its own uploads,
 *   never someone else's nor a bundled one; bad edits are 400s naming the field;
 * - in Chromium with the real worker: loose files dropped on the dropzone are picked by name (a
 *   synthetic drop carries files, not folder entries: a dropped folder's walk is not covered); a
 *   folder chosen through the folder picker is uploaded with progress (XMLHttpRequest upload
 *   events) together with a description and a sample input, renamed and deleted from "Your
 *   adapters"; the playground's Run waits for the template's field; deleting an adapter the admin
 *   added is refused for this visitor.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb, pgliteDirFor } from "../../db/client";
import { prepareDb } from "../../db/migrate";
import { addUserAdapter } from "../../server/db-queries/evals";
import { loadTaskCards } from "../../server/eval/tasks";
import { startWorker, type WorkerProcess } from "../../server/eval/worker-process";
import { browserAvailable, launchBrowser, ownerCookie, ROOT, startWebServer, type WebServer } from "./browser";

const MINE = "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d";
const OTHER = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
const VISITOR = { "x-forwarded-for": "203.0.113.9" };
const SHOTS = "/tmp/h11";

const card = loadTaskCards().find((c) => c.slug === "sentiment")!;
const task = { slug: card.slug, name: card.name, category: card.category, promptTemplate: card.prompt_template, inputColumns: card.input_columns, outputColumn: card.output_column, metric: card.metric };

/** Seeds a catalog with one upload of MINE (with the sentiment template) and one of OTHER. */
async function seed(h: Awaited<ReturnType<typeof openDb>>) {
  await prepareDb(h, ROOT);
  await addUserAdapter(h.db, { slug: "mine-upload", adapterId: "mine-upload", baseModelId: "loraland-mini", hfRepo: null, description: "test upload", task, ownerId: MINE });
  await addUserAdapter(h.db, { slug: "other-upload", adapterId: "other-upload", baseModelId: "loraland-mini", hfRepo: null, description: "test upload", task: null, ownerId: OTHER });
}

type Setup = { dataDir: string; env?: Record<string, string>; drop: () => Promise<void> };

async function pgliteSetup(): Promise<Setup> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-manage-"));
  const h = await openDb({ pgliteDir: pgliteDirFor(dataDir) });
  try {
    await seed(h);
  } finally {
    await h.close();
  }
  return { dataDir, drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }) };
}

async function postgresSetup(url: string): Promise<Setup> {
  const name = `t_manage_${Math.random().toString(16).slice(2, 10)}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  const h = await openDb({ databaseUrl: u.toString(), max: 2 });
  try {
    await seed(h);
  } finally {
    await h.close();
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-manage-"));
  return {
    dataDir,
    env: { DATABASE_URL: u.toString() },
    drop: async () => {
      fs.rmSync(dataDir, { recursive: true, force: true });
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

const setups: { name: string; make: () => Promise<Setup> }[] = [
  { name: "pglite", make: pgliteSetup },
  ...(process.env.DATABASE_URL ? [{ name: "postgres", make: () => postgresSetup(process.env.DATABASE_URL!) }] : []),
];

for (const { name, make } of setups) {
  describe(`GET/PATCH/DELETE /api/adapters (${name}, production server)`, () => {
    let server: WebServer;
    let setup: Setup;
    let mine: string;
    let stranger: string;
    beforeAll(async () => {
      setup = await make();
      server = await startWebServer({ dataDir: setup.dataDir, env: setup.env });
      // MINE owns rows, so its old unsigned cookie is re-signed on a page load
      mine = await ownerCookie(server, { ...VISITOR, cookie: `owner=${MINE}` });
      stranger = await ownerCookie(server, VISITOR);
    }, 300_000);
    afterAll(async () => {
      await server?.stop();
      await setup?.drop();
    });
    const api = (method: string, query: string, cookie: string | null, body?: unknown) =>
      fetch(`${server.url}/api/adapters${query}`, {
        method,
        headers: { ...VISITOR, ...(cookie ? { cookie } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
    const listOf = async (cookie: string) => ((await (await api("GET", "", cookie)).json()) as { adapters: { slug: string; displayName: string; description: string; sampleInputs: Record<string, string>[] }[] }).adapters;

    it("lists only the caller's own uploads; no owner → 401", async () => {
      expect((await api("GET", "", null)).status).toBe(401);
      expect((await listOf(mine)).map((a) => a.slug)).toEqual(["mine-upload"]);
      expect(await listOf(stranger)).toEqual([]);
    });

    it("the owner renames it and sets a description and sample inputs; the catalog shows them", async () => {
      const res = await api("PATCH", "?id=mine-upload", mine, { displayName: "  My sentiment  ", description: "Reviews → positive/negative", sampleInputs: [{ review: "Loved it." }] });
      expect(res.status, await res.clone().text()).toBe(200);
      const [a] = await listOf(mine);
      expect([a!.displayName, a!.description, a!.sampleInputs]).toEqual(["My sentiment", "Reviews → positive/negative", [{ review: "Loved it." }]]);
      const catalog = (await (await fetch(`${server.url}/api/trpc/catalog.list`, { headers: { cookie: mine, ...VISITOR } })).json()) as { result: { data: { json: { adapters: { slug: string; displayName: string; sampleInputs: unknown }[] } } } };
      const row = catalog.result.data.json.adapters.find((x) => x.slug === "mine-upload")!;
      expect([row.displayName, row.sampleInputs]).toEqual(["My sentiment", [{ review: "Loved it." }]]);
    });

    it("bad edits are 400s naming the field", async () => {
      const error = async (body: unknown) => {
        const res = await api("PATCH", "?id=mine-upload", mine, body);
        return [res.status, ((await res.json()) as { error: string }).error];
      };
      expect(await error({ displayName: " " })).toEqual([400, "displayName: a name is required"]);
      expect(await error({ displayName: "x".repeat(81) })).toEqual([400, "displayName: at most 80 characters"]);
      expect(await error({ sampleInputs: [{ text: "hi" }] })).toEqual([400, "sampleInputs.0.text: not a column of the template (review)"]);
      expect(await error({ sampleInputs: [{ review: "" }] })).toEqual([400, "sampleInputs.0.review: a non-empty text is required"]);
      expect(await error({ slug: "x" })).toEqual([400, "slug: not an editable field (displayName, description, sampleInputs)"]);
      expect(await error("{nope")).toEqual([400, "body: not valid JSON"]);
      expect((await api("PATCH", "?id=mine-upload", null, { displayName: "x" })).status).toBe(401);
    });

    it("someone else's upload and a bundled adapter are refused (403), a missing one is 404", async () => {
      const other = await api("PATCH", "?id=other-upload", mine, { displayName: "mine now" });
      expect(other.status).toBe(403);
      expect(((await other.json()) as { error: string }).error).toMatch(/added by someone else/);
      expect((await api("DELETE", "?id=other-upload", mine)).status).toBe(403);
      const bundled = await api("PATCH", "?id=spam", mine, { displayName: "x" });
      expect(bundled.status).toBe(403);
      expect(((await bundled.json()) as { error: string }).error).toMatch(/bundled or published adapter/);
      expect((await api("PATCH", "?id=no-such", mine, { displayName: "x" })).status).toBe(404);
      expect((await api("PATCH", "?id=Bad%20Id", mine, { displayName: "x" })).status).toBe(400);
    });

    it("the owner deletes it; it is gone from the list", async () => {
      expect((await api("DELETE", "?id=mine-upload", mine)).status).toBe(200);
      expect(await listOf(mine)).toEqual([]);
    });
  });
}

const WORKER_BUILT = fs.existsSync(path.join(ROOT, "inference/cli/serve.ts"));

describe.runIf(WORKER_BUILT && browserAvailable())("adapter management in Chromium with the real worker", () => {
  let worker: WorkerProcess;
  let server: WebServer;
  let browser: Browser;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-manage-ui-"));
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-folder-"));
  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    // the folder as people have it: the two PEFT files and a README the form leaves out
    const sub = path.join(folder, "sentiment-lora");
    fs.mkdirSync(sub);
    for (const f of ["adapter_config.json", "adapter_model.safetensors"]) fs.copyFileSync(path.join(ROOT, "data/demo/adapters/sentiment", f), path.join(sub, f));
    fs.writeFileSync(path.join(sub, "README.md"), "# a LoRA\n");
    worker = await startWorker({ root: ROOT, modelDir: path.join(ROOT, "data/demo/base"), adaptersDir: path.join(ROOT, "data/demo/adapters"), modelId: "loraland-mini", env: { DATA_DIR: dataDir } });
    server = await startWebServer({ worker: { url: worker.url }, dataDir });
    browser = await launchBrowser();
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await worker?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(folder, { recursive: true, force: true });
  });

  it("folder upload with progress, description and sample; rename; Run waits for the field; delete; someone else's refused", { timeout: 300_000 }, async () => {
    // the admin (loopback, no proxy) adds one for everyone: not this visitor's
    const form = new FormData();
    form.set("id", "admins-copy");
    for (const f of ["adapter_config.json", "adapter_model.safetensors"]) form.set(f, new Blob([fs.readFileSync(path.join(ROOT, "data/demo/adapters/sentiment", f))]), f);
    expect((await fetch(`${server.url}/api/adapters`, { method: "POST", body: form })).status).toBe(201);

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, extraHTTPHeaders: VISITOR });
    const page = await context.newPage();
    await page.goto(`${server.url}/adapters/new`);
    await page.getByTestId("my-adapters").getByText("None yet").waitFor();
    await page.getByTestId("upload-id").fill("my-sentiment");
    await page.getByTestId("upload-task").selectOption("sentiment");
    await page.getByTestId("upload-description").fill("A copy of the bundled sentiment adapter.");
    await page.getByTestId("upload-sample-review").fill("The plot dragged, but the acting was superb.");
    // dropped files (a synthetic drop carries files, not a folder entry) are picked by name
    const dropped = await page.evaluateHandle(
      (files) => {
        const dt = new DataTransfer();
        for (const [name, b64] of files) dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
        return dt;
      },
      ["adapter_config.json", "README.md"].map((f) => [f, fs.readFileSync(path.join(folder, "sentiment-lora", f)).toString("base64")] as [string, string]),
    );
    await page.getByTestId("upload-dropzone").dispatchEvent("drop", { dataTransfer: dropped });
    await expect.poll(() => page.getByTestId("upload-picked").textContent()).toMatch(/✓ config · – weights · 1 other file not sent/);
    // the folder picker (webkitdirectory): the whole folder, README included
    await page.getByTestId("upload-folder").setInputFiles(path.join(folder, "sentiment-lora"));
    await expect.poll(() => page.getByTestId("upload-picked").textContent()).toMatch(/✓ config · ✓ weights · 1 other file not sent/);
    await page.getByTestId("upload-submit").click();
    await expect.poll(async () => ((await page.getByTestId("upload-error").count()) ? await page.getByTestId("upload-error").textContent() : page.getByTestId("upload-ok").count()), { timeout: 120_000 }).toBe(1);
    // progress came from upload events and reached the whole body (files + the form's parts)
    const progress = page.getByTestId("upload-progress");
    const [loaded, total, events] = await Promise.all(["data-loaded", "data-total", "data-events"].map(async (a) => Number(await progress.getAttribute(a))));
    expect(events).toBeGreaterThanOrEqual(1);
    expect(loaded).toBe(total);
    expect(total).toBeGreaterThan(fs.statSync(path.join(folder, "sentiment-lora/adapter_model.safetensors")).size);
    await expect(page.getByTestId("upload-progress-text").textContent()).resolves.toMatch(/^100% · /);
    expect(fs.readdirSync(path.join(dataDir, "adapters/my-sentiment")).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors"]);

    // only this visitor's own upload is listed
    const items = page.getByTestId("my-adapter");
    await expect.poll(() => items.evaluateAll((els) => els.map((e) => e.getAttribute("data-slug")))).toEqual(["my-sentiment"]);
    await page.getByTestId("my-adapter-edit").click();
    await page.getByTestId("my-adapter-name").fill("Sentiment (my copy)");
    await page.getByTestId("my-adapter-save").click();
    await expect.poll(() => page.getByTestId("my-adapter-title").textContent()).toBe("Sentiment (my copy)");
    // its page says whose sample inputs these are (not the test split's first rows)
    await page.goto(`${server.url}/adapters/my-sentiment`);
    await expect(page.getByTestId("sample-inputs").textContent()).resolves.toContain("The plot dragged, but the acting was superb.");
    await expect(page.locator("#samples-heading + p").textContent()).resolves.toBe("Given by whoever added this adapter.");
    await page.goto(`${server.url}/adapters/new`);
    await page.getByTestId("my-adapter").waitFor();
    for (const [label, opts] of [
      ["desktop-light", { viewport: { width: 1280, height: 900 }, colorScheme: "light" as const }],
      ["desktop-dark", { viewport: { width: 1280, height: 900 }, colorScheme: "dark" as const }],
      ["phone-light", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: "light" as const }],
      ["phone-dark", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: "dark" as const }],
    ] as const) {
      const shot = await browser.newContext({ ...opts, extraHTTPHeaders: VISITOR, storageState: { cookies: (await context.storageState()).cookies, origins: [] } });
      const p = await shot.newPage();
      await p.goto(`${server.url}/adapters/new`);
      await p.getByTestId("my-adapter").waitFor();
      expect(await p.evaluate(() => document.documentElement.scrollWidth), label).toBeLessThanOrEqual(opts.viewport.width);
      await p.screenshot({ path: path.join(SHOTS, `adapters-new-${label}.png`), fullPage: true });
      await shot.close();
    }

    // the playground: the sample is offered, and Run waits until the template's field is filled
    await page.goto(`${server.url}/playground?adapter=my-sentiment`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await expect(page.getByTestId("input-review").inputValue()).resolves.toBe("The plot dragged, but the acting was superb.");
    await page.getByTestId("input-review").fill("");
    await expect.poll(() => page.getByTestId("run").isDisabled()).toBe(true);
    await expect(page.getByTestId("missing-fields").textContent()).resolves.toBe("Fill in {review} to run.");
    await page.screenshot({ path: path.join(SHOTS, "playground-missing-field.png") });
    await page.getByTestId("input-review").fill("Great.");
    await expect.poll(() => page.getByTestId("run").isDisabled()).toBe(false);

    // someone else's (the admin's) upload: refused for this visitor, and not listed
    await page.goto(`${server.url}/adapters/new`);
    const refused = await page.evaluate(async () => {
      const res = await fetch("/api/adapters?id=admins-copy", { method: "DELETE" });
      return [res.status, ((await res.json()) as { error: string }).error];
    });
    expect(refused).toEqual([403, 'id: "admins-copy" was added by someone else; only they or the admin can change or remove it']);

    page.once("dialog", (d) => void d.accept());
    await page.getByTestId("my-adapter-delete").click();
    await page.getByTestId("my-adapters").getByText("None yet").waitFor();
    expect(fs.existsSync(path.join(dataDir, "adapters/my-sentiment"))).toBe(false);
    expect(fs.existsSync(path.join(dataDir, "adapters/admins-copy"))).toBe(true);
    await context.close();
  });
});
