/** A progress bar in the app's colors in both themes (a native <progress> keeps the browser's own, green in Chromium). */
export function Bar({ value, max, label, testId, data }: { value: number; max: number; label: string; testId?: string; data?: Record<`data-${string}`, string | number> }) {
  const pct = max > 0 ? Math.max(0, Math.min(100, (value / max) * 100)) : 0;
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={max}
      aria-valuenow={value}
      className="h-2 w-full overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
      data-testid={testId}
      {...data}
    >
      <div className="h-full rounded-full bg-brand-600 transition-[width] dark:bg-brand-500" style={{ width: `${pct}%` }} />
    </div>
  );
}
