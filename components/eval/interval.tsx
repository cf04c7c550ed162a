/** A score's 95% bootstrap interval as text, with its meaning on hover. */
export interface CI {
  low: number;
  high: number;
  level: number;
  n: number;
  resamples: number;
}

const pct = (v: number) => (v * 100).toFixed(1);

/**
 * `percent` (the eval pages): "[65.1–78.3]"; `score` (the catalog's 0–1 figures, 2 decimals as
 * they are shown there; a lift's bounds may be negative): "[0.65, 0.78]".
 */
export function Interval({ ci, testId, format = "percent", inherit = false }: { ci: CI | null | undefined; testId?: string; format?: "percent" | "score"; /** the surrounding text's size and colour (a caption) */ inherit?: boolean }) {
  if (!ci) return null;
  return (
    <span
      className={`whitespace-nowrap tabular-nums ${inherit ? "" : "text-xs text-slate-500 dark:text-slate-400"}`}
      title={`${Math.round(ci.level * 100)}% bootstrap interval: ${ci.resamples} resamples of the ${ci.n} examples' scores`}
      data-testid={testId}
    >
      {format === "percent" ? `[${pct(ci.low)}–${pct(ci.high)}]` : `[${ci.low.toFixed(2)}, ${ci.high.toFixed(2)}]`}
    </span>
  );
}
