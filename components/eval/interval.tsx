/** A score's 95% bootstrap interval as text: "[65.1–78.3]" (percent), with its meaning on hover. */
export interface CI {
  low: number;
  high: number;
  level: number;
  n: number;
  resamples: number;
}

const pct = (v: number) => (v * 100).toFixed(1);

export function Interval({ ci, testId }: { ci: CI | null | undefined; testId?: string }) {
  if (!ci) return null;
  return (
    <span
      className="whitespace-nowrap text-xs text-slate-500 tabular-nums dark:text-slate-400"
      title={`${Math.round(ci.level * 100)}% bootstrap interval: ${ci.resamples} resamples of the ${ci.n} examples' scores`}
      data-testid={testId}
    >
      [{pct(ci.low)}–{pct(ci.high)}]
    </span>
  );
}
