/**
 * 95% bootstrap intervals (./bootstrap.ts) of stored eval results: the fine-tuned score's, the base
 * model's (when every example has a base score) and the lift's (fine-tuned − base, paired by
 * example), 1000 resamples seeded by the result id (the same interval on every page and reload).
 * A result's examples never change once stored, so each is computed once per process and
 * database (the oldest dropped past 2000).
 */
import type { Db } from "../../db/client";
import type { MetricFigure } from "../db-queries/catalog";
import { measuredRunId, resultIdsOfRuns, resultScores } from "../db-queries/evals";
import { bootstrapMean, pairedBootstrap, type Interval } from "./bootstrap";

export interface ResultIntervals {
  ci: Interval | null;
  baseCi: Interval | null;
  /** of mean(score − baseScore); null without base scores */
  liftCi: Interval | null;
}

const cache = new WeakMap<object, Map<number, ResultIntervals>>();

/** The intervals of some results, by result id. */
export async function resultIntervals(db: Db, resultIds: number[]): Promise<Map<number, ResultIntervals>> {
  let known = cache.get(db);
  if (!known) cache.set(db, (known = new Map()));
  const missing = [...new Set(resultIds)].filter((id) => !known.has(id));
  for (const [id, s] of await resultScores(db, { resultIds: missing })) {
    const base = s.baseScore.every((x) => x !== null) ? (s.baseScore as number[]) : [];
    if (known.size >= 2000) known.delete(known.keys().next().value!);
    known.set(id, {
      ci: bootstrapMean(s.score, { seed: id }),
      baseCi: bootstrapMean(base, { seed: id }),
      liftCi: base.length ? pairedBootstrap(s.score, base, { seed: id }) : null,
    });
  }
  return new Map(resultIds.flatMap((id) => (known.has(id) ? [[id, known.get(id)!] as const] : [])));
}

/**
 * The intervals behind each adapter's headline ("measured here") figures, by slug: the result of
 * the eval run its fine-tuned measured figure names. Adapters without one are left out.
 */
export async function measuredIntervals(db: Db, adapters: { slug: string; metrics: Pick<MetricFigure, "source" | "modelLabel" | "measuredBy">[] }[]): Promise<Map<string, ResultIntervals>> {
  const runs = adapters.flatMap((a) => {
    const fig = a.metrics.find((m) => m.source === "measured" && m.modelLabel === "fine_tuned");
    const runId = fig ? measuredRunId(fig.measuredBy) : null;
    return runId === null ? [] : [{ slug: a.slug, runId }];
  });
  if (!runs.length) return new Map();
  const ids = await resultIdsOfRuns(db, { runIds: runs.map((r) => r.runId) });
  const bySlug = new Map(runs.flatMap((r) => (ids.has(`${r.runId}:${r.slug}`) ? [[r.slug, ids.get(`${r.runId}:${r.slug}`)!] as const] : [])));
  const intervals = await resultIntervals(db, [...bySlug.values()]);
  return new Map([...bySlug].flatMap(([slug, id]) => (intervals.has(id) ? [[slug, intervals.get(id)!] as const] : [])));
}
