/** Fine-tuned vs base score of one eval result, as two labelled bars (0..100%). */
export function ScoreBars({ score, baseScore, metric, baseModel }: { score: number; baseScore: number | null; metric: string; baseModel: string }) {
  const rows: { label: string; value: number | null; color: string; testId: string }[] = [
    { label: "Fine-tuned", value: score, color: "var(--color-series-ft)", testId: "score-fine-tuned" },
    { label: `${baseModel} (base)`, value: baseScore, color: "var(--color-series-base)", testId: "score-base" },
  ];
  return (
    <dl className="space-y-2" aria-label={`${metric}: fine-tuned vs base`}>
      {rows.map((r) => (
        <div key={r.label} className="grid grid-cols-[10rem_1fr_4rem] items-center gap-3 text-sm">
          <dt className="truncate text-slate-600 dark:text-slate-300">{r.label}</dt>
          <dd className="h-3 rounded bg-slate-100 dark:bg-slate-800" aria-hidden="true">
            <div className="h-3 rounded" style={{ width: `${Math.max(0, Math.min(1, r.value ?? 0)) * 100}%`, background: r.color }} />
          </dd>
          <dd className="text-right font-mono tabular-nums" data-testid={r.testId}>
            {r.value === null ? "–" : `${(r.value * 100).toFixed(1)}%`}
          </dd>
        </div>
      ))}
    </dl>
  );
}
