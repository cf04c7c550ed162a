import { Interval, type CI } from "./interval";

/** Fine-tuned vs base score of one eval result, as two labelled bars (0..100%), each with its 95% interval as a whisker. */
export function ScoreBars({ score, baseScore, metric, baseModel, ci, baseCi }: { score: number; baseScore: number | null; metric: string; baseModel: string; ci?: CI | null; baseCi?: CI | null }) {
  const rows: { label: string; value: number | null; ci: CI | null; color: string; testId: string }[] = [
    { label: "Fine-tuned", value: score, ci: ci ?? null, color: "var(--color-series-ft)", testId: "score-fine-tuned" },
    { label: `${baseModel} (base)`, value: baseScore, ci: baseScore === null ? null : (baseCi ?? null), color: "var(--color-series-base)", testId: "score-base" },
  ];
  const clamp = (v: number) => Math.max(0, Math.min(1, v)) * 100;
  return (
    <dl className="space-y-2" aria-label={`${metric}: fine-tuned vs base`}>
      {rows.map((r) => (
        <div key={r.label} className="grid grid-cols-[minmax(0,7rem)_1fr_auto] items-center gap-x-3 text-sm sm:grid-cols-[10rem_1fr_auto]">
          <dt className="truncate text-slate-600 dark:text-slate-300">{r.label}</dt>
          <dd className="relative h-3 rounded bg-slate-100 dark:bg-slate-800" aria-hidden="true">
            <div className="h-3 rounded" style={{ width: `${clamp(r.value ?? 0)}%`, background: r.color }} />
            {r.ci && <div className="absolute top-1/2 h-0.5 -translate-y-1/2 bg-slate-900/70 dark:bg-white/80" style={{ left: `${clamp(r.ci.low)}%`, width: `${clamp(r.ci.high) - clamp(r.ci.low)}%` }} />}
          </dd>
          <dd className="flex items-baseline justify-end gap-2 text-right">
            <span className="font-mono tabular-nums" data-testid={r.testId}>
              {r.value === null ? "–" : `${(r.value * 100).toFixed(1)}%`}
            </span>
            <Interval ci={r.ci} testId={`${r.testId}-ci`} />
          </dd>
        </div>
      ))}
    </dl>
  );
}
