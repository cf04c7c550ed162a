/**
 * The catalog seed against a real database (PGlite, and Postgres when DATABASE_URL is set): every
 * LoRA Land row with its published figures, the demo task cards with their test rows, idempotent,
 * and never touching measured figures.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCsv, seedCatalog, loraLandSlug } from "../../db/seed";
import { getCatalogAdapter, listBaseModels, listCatalogAdapters, upsertMeasuredMetric } from "../../server/db-queries/catalog";
import { drivers, type TestDatabase } from "./db-harness";

const ROOT = path.resolve(import.meta.dirname, "../..");
const csv = parseCsv(fs.readFileSync(path.join(ROOT, "data/catalog/lora-land-published-metrics.csv"), "utf8"));
const tasks = JSON.parse(fs.readFileSync(path.join(ROOT, "data/catalog/lora-land-tasks.json"), "utf8")) as {
  hf_adapter_repo: string;
  dataset: string;
  metadata: { prompt_template: string; input_columns: string; adapter_category: string } | null;
}[];
const demo = JSON.parse(fs.readFileSync(path.join(ROOT, "data/demo/tasks/tasks.json"), "utf8")) as {
  slug: string;
  prompt_template: string;
  input_columns: string[];
  metric: string;
}[];

describe("parseCsv", () => {
  it("reads quoted fields, doubled quotes, CRLF and empty fields", () => {
    expect(parseCsv('a,b,c\r\n1,"x, ""y""",\n"multi\nline",2,3\n')).toEqual([
      { a: "1", b: 'x, "y"', c: "" },
      { a: "multi\nline", b: "2", c: "3" },
    ]);
  });
  it("reads the 27 published rows", () => {
    expect(csv).toHaveLength(27);
    expect(new Set(csv.map(loraLandSlug)).size).toBe(27);
  });
});

describe.each(drivers)("catalog seed on $name", ({ open }) => {
  let h: TestDatabase;
  beforeAll(async () => {
    h = await open();
    await seedCatalog(h.db, { root: ROOT });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("stores the 27 LoRA Land adapters with all five published figures as in the CSV", async () => {
    const all = await listCatalogAdapters(h.db);
    const lora = all.filter((a) => a.collection === "lora-land");
    expect(lora).toHaveLength(27);
    for (const row of csv) {
      const a = lora.find((x) => x.slug === loraLandSlug(row));
      expect(a, row.adapter_name).toBeDefined();
      expect(a!.displayName).toBe(row.adapter_name);
      expect(a!.metricName).toBe(row.metric);
      expect(a!.baseModelId).toBe("mistralai/Mistral-7B-v0.1");
      const pub = Object.fromEntries(a!.metrics.filter((m) => m.source === "published").map((m) => [m.modelLabel, m.value]));
      expect(pub.fine_tuned).toBeCloseTo(Number(row.fine_tuned), 6);
      expect(pub.gpt_4).toBeCloseTo(Number(row.gpt_4), 6);
      expect(pub.gpt_35_turbo).toBeCloseTo(Number(row.gpt_35_turbo), 6);
      expect(pub.mistral_7b_instruct).toBeCloseTo(Number(row.mistral_7b_instruct), 6);
      expect(pub.base).toBeCloseTo(Number(row.mistral_7b), 6);
      expect(a!.metrics.every((m) => m.source === "published" && m.measuredBy.includes("Predibase"))).toBe(true);
    }
  });

  it("keeps the exact prompt templates, input columns and categories of the task metadata", async () => {
    for (const t of tasks) {
      const a = await getCatalogAdapter(h.db, { slug: loraLandSlug(t) });
      expect(a).not.toBeNull();
      if (t.metadata) {
        expect(a!.promptTemplate).toBe(t.metadata.prompt_template);
        expect(a!.inputColumns).toEqual(t.metadata.input_columns.split(",").map((c) => c.trim()));
        expect(a!.category).toBe(t.metadata.adapter_category);
      } else {
        expect(a!.promptTemplate).toBeNull();
      }
    }
    const conll = await getCatalogAdapter(h.db, { slug: "conllpp" });
    expect(conll!.hfRepo).toBe("predibase/conllpp");
    expect(conll!.promptTemplate).toContain('{{"person":');
    const webnlg = await getCatalogAdapter(h.db, { slug: "webnlg" });
    expect(webnlg!.hfRepo).toBeNull();
    expect(webnlg!.note).toMatch(/below GPT-4/);
  });

  it("stores the bundled demo adapters of loraland-mini with their first test rows as samples", async () => {
    const all = await listCatalogAdapters(h.db);
    const mini = all.filter((a) => a.collection === "runs-here");
    expect(mini.map((a) => a.slug).sort()).toEqual(demo.map((d) => d.slug).sort());
    for (const d of demo) {
      const a = mini.find((x) => x.slug === d.slug)!;
      expect(a.baseModelId).toBe("loraland-mini");
      expect(a.adapterId).toBe(d.slug);
      expect(a.promptTemplate).toBe(d.prompt_template);
      expect(a.inputColumns).toEqual(d.input_columns);
      expect(a.metricName).toBe(d.metric);
      const first = JSON.parse(fs.readFileSync(path.join(ROOT, "data/demo/tasks", d.slug, "test.jsonl"), "utf8").split("\n")[0]!);
      expect(a.sampleInputs).toHaveLength(3);
      expect(a.sampleInputs[0]).toEqual(Object.fromEntries(d.input_columns.map((c) => [c, String(first[c])])));
      expect(a.metrics).toEqual([]); // nothing published for them: only measured figures, by the eval
    }
    expect((await listBaseModels(h.db)).map((b) => b.id)).toEqual(["loraland-mini", "mistralai/Mistral-7B-v0.1"]);
  });

  it("is idempotent and leaves measured figures alone", async () => {
    await upsertMeasuredMetric(h.db, {
      adapterSlug: "sql", modelLabel: "fine_tuned", metricName: "exact_match", value: 0.91, examples: 500,
      measuredAt: new Date("2026-01-02T03:04:05Z"), measuredBy: "eval run test",
    });
    await upsertMeasuredMetric(h.db, {
      adapterSlug: "sql", modelLabel: "fine_tuned", metricName: "exact_match", value: 0.93, examples: 500,
      measuredAt: new Date("2026-01-03T03:04:05Z"), measuredBy: "eval run test 2",
    });
    const result = await seedCatalog(h.db, { root: ROOT });
    await seedCatalog(h.db, { root: ROOT });
    expect(result).toEqual({ baseModels: 2, adapters: 27 + demo.length, publishedMetrics: 27 * 5 });
    const all = await listCatalogAdapters(h.db);
    expect(all).toHaveLength(27 + demo.length);
    expect(all.reduce((n, a) => n + a.metrics.filter((m) => m.source === "published").length, 0)).toBe(135);
    const sql = all.find((a) => a.slug === "sql")!;
    expect(sql.metrics).toEqual([
      expect.objectContaining({ modelLabel: "fine_tuned", source: "measured", value: expect.closeTo(0.93, 6), measuredBy: "eval run test 2" }),
    ]);
    expect(sql.metrics[0]!.measuredAt.toISOString()).toBe("2026-01-03T03:04:05.000Z");
  });

  it("returns null for an unknown slug and lists in catalog order", async () => {
    expect(await getCatalogAdapter(h.db, { slug: "no-such-adapter" })).toBeNull();
    const all = await listCatalogAdapters(h.db);
    expect(all[0]!.slug).toBe(loraLandSlug(csv[0]!));
    expect(all.at(-1)!.collection).toBe("runs-here");
  });
});
