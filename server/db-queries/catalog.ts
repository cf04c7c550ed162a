/**
 * Catalog queries: adapters with their base model and metrics. Small functions taking the db
 * handle, the same on PGlite and Postgres.
 */
import { asc, eq, inArray } from "drizzle-orm";
import type { Db } from "../../db/client";
import { adapters, baseModels, metrics, type MetricSource, type ModelLabel } from "../../db/schema/catalog";
import type { TrainRunConfig } from "../../db/schema/train";
import { trainedRunsFor } from "./train";

export type AdapterRow = typeof adapters.$inferSelect;
export type BaseModelRow = typeof baseModels.$inferSelect;

export interface MetricFigure {
  modelLabel: ModelLabel;
  source: MetricSource;
  metricName: string;
  value: number;
  examples: number | null;
  measuredAt: Date;
  measuredBy: string;
}

/** An adapter trained on this server (/train): its run and the config it was trained with. */
export interface TrainedHere {
  runId: number;
  config: TrainRunConfig;
  datasetName: string;
  /** eval runs of it (and the base model) on its task's test split */
  evalRunIds: number[];
  finishedAt: Date | null;
}

export interface CatalogAdapter extends AdapterRow {
  baseModel: BaseModelRow;
  metrics: MetricFigure[];
  /** set when a training run of this server made it; null otherwise */
  trainedHere: TrainedHere | null;
}

async function withMetrics(db: Db, rows: { adapter: AdapterRow; base: BaseModelRow }[]): Promise<CatalogAdapter[]> {
  if (rows.length === 0) return [];
  const userSlugs = rows.filter((r) => r.adapter.collection === "user").map((r) => r.adapter.slug);
  const [figures, trained] = await Promise.all([
    db
      .select()
      .from(metrics)
      .where(inArray(metrics.adapterSlug, rows.map((r) => r.adapter.slug))),
    trainedRunsFor(db, { slugs: userSlugs }),
  ]);
  const bySlug = new Map<string, MetricFigure[]>();
  for (const f of figures) {
    const { adapterSlug, ...figure } = f;
    bySlug.set(adapterSlug, [...(bySlug.get(adapterSlug) ?? []), figure]);
  }
  // the run's adapter is listed before the run is marked done; an adapter added later under a reused slug is another one
  const trainedHere = (a: AdapterRow): TrainedHere | null => {
    const run = trained.get(a.slug);
    return run && run.finishedAt && a.createdAt <= run.finishedAt ? { runId: run.id, config: run.config, datasetName: run.datasetName, evalRunIds: run.evalRunIds, finishedAt: run.finishedAt } : null;
  };
  return rows.map(({ adapter, base }) => ({ ...adapter, baseModel: base, metrics: bySlug.get(adapter.slug) ?? [], trainedHere: trainedHere(adapter) }));
}

/** Every adapter, in catalog order (LoRA Land table order, then the demo ones, then user ones). */
export async function listCatalogAdapters(db: Db): Promise<CatalogAdapter[]> {
  const rows = await db
    .select({ adapter: adapters, base: baseModels })
    .from(adapters)
    .innerJoin(baseModels, eq(adapters.baseModelId, baseModels.id))
    .orderBy(asc(adapters.sortOrder), asc(adapters.slug));
  return withMetrics(db, rows);
}

export async function getCatalogAdapter(db: Db, { slug }: { slug: string }): Promise<CatalogAdapter | null> {
  const rows = await db
    .select({ adapter: adapters, base: baseModels })
    .from(adapters)
    .innerJoin(baseModels, eq(adapters.baseModelId, baseModels.id))
    .where(eq(adapters.slug, slug))
    .limit(1);
  const [found] = await withMetrics(db, rows);
  return found ?? null;
}

export async function listBaseModels(db: Db): Promise<BaseModelRow[]> {
  return db.select().from(baseModels).orderBy(asc(baseModels.id));
}

/** Record (or replace) the current measured figure of an adapter for one model (eval runs call this). */
export async function upsertMeasuredMetric(
  db: Db,
  m: { adapterSlug: string; modelLabel: ModelLabel; metricName: string; value: number; examples: number | null; measuredAt: Date; measuredBy: string },
): Promise<void> {
  await db
    .insert(metrics)
    .values({ ...m, source: "measured" })
    .onConflictDoUpdate({
      target: [metrics.adapterSlug, metrics.modelLabel, metrics.source],
      set: { metricName: m.metricName, value: m.value, examples: m.examples, measuredAt: m.measuredAt, measuredBy: m.measuredBy },
    });
}
