/**
 * The catalog's published figures (LoRA Land's table) and the figures measured here on one chart:
 * per model, a published bar and a measured bar on the same 0..100% scale; the measured headline
 * carries its 95% bootstrap interval as a whisker. Each figure says its metric and n.
 */
import { MODEL_ORDER, modelName } from "../catalog/labels";
import type { ModelLabel } from "@/db/schema/catalog";
import { Interval, type CI } from "./interval";

interface Figure {
  modelLabel: ModelLabel;
  source: "published" | "measured";
  metricName: string;
  value: number;
  examples: number | null;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const clamp = (v: number) => Math.max(0, Math.min(1, v)) * 100;

export function PublishedVsMeasured({ metrics, baseModel, intervals }: { metrics: Figure[]; baseModel: string; intervals: Partial<Record<ModelLabel, CI | null>> }) {
  // the fine-tuned and base rows always (a chart with nothing measured yet still says so)
  const models = MODEL_ORDER.filter((m) => m === "fine_tuned" || m === "base" || metrics.some((f) => f.modelLabel === m));
  const hasPublished = metrics.some((f) => f.source === "published");
  const hasMeasured = metrics.some((f) => f.source === "measured");
  return (
    <section aria-labelledby="pvm-heading" className="space-y-3 rounded-xl border border-slate-200 p-4 dark:border-slate-800" data-testid="published-vs-measured">
      <h2 id="pvm-heading" className="flex flex-wrap items-baseline justify-between gap-2">
        <span className="text-lg font-medium">Published vs measured here</span>
        <span className="flex gap-3 text-xs text-slate-500">
          <span className="flex items-center gap-1">
            <span className="inline-block h-2 w-4 rounded-sm bg-slate-400 dark:bg-slate-500" aria-hidden="true" /> published
          </span>
          <span className="flex items-center gap-1">
            <span className="inline-block h-2 w-4 rounded-sm" style={{ background: "var(--color-series-ft)" }} aria-hidden="true" /> measured (headline)
          </span>
        </span>
      </h2>
      {!hasMeasured && <p className="text-xs text-slate-500">Nothing measured here yet: the headline comes from a run over the full test split.</p>}
      {!hasPublished && <p className="text-xs text-slate-500">LoRA Land published no figures for this adapter.</p>}
      <dl className="space-y-3">
        {models.map((m) => (
          <div key={m} className="space-y-1" data-testid={`pvm-${m}`}>
            <dt className="text-sm text-slate-600 dark:text-slate-300">{modelName(m, baseModel)}</dt>
            {(["published", "measured"] as const).map((source) => {
              const f = metrics.find((x) => x.modelLabel === m && x.source === source);
              const ci = source === "measured" ? (intervals[m] ?? null) : null;
              return (
                <dd key={source} className="grid grid-cols-[4.5rem_1fr_auto] items-center gap-x-2 text-xs" data-testid={`pvm-${m}-${source}`}>
                  <span className="text-slate-500">{source}</span>
                  <span className="relative h-2.5 rounded bg-slate-100 dark:bg-slate-800" aria-hidden="true">
                    {f && <span className={`block h-2.5 rounded ${source === "published" ? "bg-slate-400 dark:bg-slate-500" : ""}`} style={{ width: `${clamp(f.value)}%`, ...(source === "measured" ? { background: m === "base" ? "var(--color-series-base)" : "var(--color-series-ft)" } : {}) }} />}
                    {ci && <span className="absolute top-1/2 h-0.5 -translate-y-1/2 bg-slate-900/70 dark:bg-white/80" style={{ left: `${clamp(ci.low)}%`, width: `${clamp(ci.high) - clamp(ci.low)}%` }} />}
                  </span>
                  <span className="flex items-baseline justify-end gap-1.5 text-right sm:min-w-[15rem]">
                    <span className="font-mono tabular-nums" data-testid={`pvm-${m}-${source}-value`}>
                      {f ? pct(f.value) : "–"}
                    </span>
                    {f && <span className="text-slate-500">{f.metricName}{f.examples !== null ? `, n=${f.examples}` : ""}</span>}
                    <Interval ci={ci} />
                  </span>
                </dd>
              );
            })}
          </div>
        ))}
      </dl>
    </section>
  );
}
