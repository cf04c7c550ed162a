import { formatLift } from "./labels";

export interface LiftPoint {
  slug: string;
  name: string;
  lift: number;
  /** 95% bootstrap interval of the lift (measured figures): drawn as a whisker */
  ci?: { low: number; high: number } | null;
}

/**
 * The LoRA Land story at a glance: each adapter's fine-tuned score minus GPT-4's (same task,
 * same metric), sorted, one bar each; right of zero = the small fine-tuned model wins.
 */
export function LiftChart({
  points,
  narrow = false,
  title = "Lift over GPT-4 per adapter",
  id = "lift",
}: {
  points: LiftPoint[];
  /** phone layout */
  narrow?: boolean;
  title?: string;
  /** unique per chart on a page */
  id?: string;
}) {
  const sorted = [...points].sort((a, b) => b.lift - a.lift);
  const rowH = 16;
  const gap = 4;
  const labelW = narrow ? 190 : 300;
  const valueW = narrow ? 40 : 46;
  const width = narrow ? 420 : 1000;
  const maxChars = narrow ? 25 : 40;
  const idPrefix = narrow ? `${id}-n` : id;
  const plotW = width - labelW - valueW;
  const min = Math.min(0, ...sorted.map((p) => Math.min(p.lift, p.ci?.low ?? p.lift)));
  const max = Math.max(0, ...sorted.map((p) => Math.max(p.lift, p.ci?.high ?? p.lift)));
  const ciText = (p: LiftPoint) => (p.ci ? ` (95% CI ${formatLift(p.ci.low)} to ${formatLift(p.ci.high)})` : "");
  const span = max - min || 1;
  const x = (v: number) => labelW + ((v - min) / span) * plotW;
  const height = sorted.length * (rowH + gap) + 18;
  const ticks = (narrow ? [-0.5, 0, 0.5, 1] : [-0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1]).filter((t) => t >= min - 1e-9 && t <= max + 1e-9);
  return (
    <svg role="img" aria-labelledby={`${idPrefix}-title ${idPrefix}-desc`} viewBox={`0 0 ${width} ${height}`} className="block h-auto w-full" data-testid={narrow ? `${id}-chart-narrow` : `${id}-chart`}>
      <title id={`${idPrefix}-title`}>{title}</title>
      <desc id={`${idPrefix}-desc`}>{sorted.map((p) => `${p.name}: ${formatLift(p.lift)}${ciText(p)}`).join("; ")}</desc>
      {ticks.map((t) => (
        <g key={t}>
          <line x1={x(t)} x2={x(t)} y1={0} y2={height - 16} className={t === 0 ? "stroke-slate-500" : "stroke-slate-200 dark:stroke-slate-800"} strokeWidth={t === 0 ? 1.2 : 1} />
          <text x={x(t)} y={height - 4} fontSize={11} textAnchor="middle" className="fill-slate-500">
            {formatLift(t)}
          </text>
        </g>
      ))}
      {sorted.map((p, i) => {
        const y = i * (rowH + gap);
        const x0 = x(Math.min(0, p.lift));
        const w = Math.max(Math.abs(x(p.lift) - x(0)), 1.5);
        const mid = y + rowH / 2;
        // the value label sits right of the bar and of its whisker
        const labelX = Math.max(p.lift >= 0 ? x(p.lift) : x(0), p.ci ? x(p.ci.high) : 0) + 4;
        return (
          <a key={p.slug} href={`/adapters/${p.slug}`} aria-label={`${p.name}: ${formatLift(p.lift)}${ciText(p)}`}>
            <title>{`${p.name}: ${formatLift(p.lift)}${ciText(p)}`}</title>
            <text x={labelW - 8} y={y + rowH / 2} dominantBaseline="central" textAnchor="end" fontSize={narrow ? 11 : 12} className="fill-slate-700 hover:underline dark:fill-slate-200">
              {p.name.length > maxChars ? `${p.name.slice(0, maxChars - 1)}…` : p.name}
            </text>
            <rect x={x0} y={y} width={w} height={rowH} rx={2} className={p.lift >= 0 ? "fill-emerald-500" : "fill-rose-500"} />
            {p.ci && (
              <g className="stroke-slate-900 dark:stroke-white" strokeOpacity={0.75} strokeWidth={1.2} data-testid="lift-ci">
                <line x1={x(p.ci.low)} x2={x(p.ci.high)} y1={mid} y2={mid} />
                <line x1={x(p.ci.low)} x2={x(p.ci.low)} y1={mid - 4} y2={mid + 4} />
                <line x1={x(p.ci.high)} x2={x(p.ci.high)} y1={mid - 4} y2={mid + 4} />
              </g>
            )}
            <text
              x={labelX}
              y={y + rowH / 2}
              dominantBaseline="central"
              fontSize={11}
              className="fill-slate-700 tabular-nums dark:fill-slate-200"
            >
              {formatLift(p.lift)}
            </text>
          </a>
        );
      })}
    </svg>
  );
}
