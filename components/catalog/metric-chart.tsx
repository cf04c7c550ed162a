import type { MetricSource, ModelLabel } from "@/db/schema/catalog";
import type { CI } from "@/components/eval/interval";
import { formatScore, MODEL_COLOR, MODEL_ORDER, MODEL_SHORT, modelName } from "./labels";

interface Fig {
  modelLabel: ModelLabel;
  source: MetricSource;
  value: number;
}

/**
 * Horizontal bars, one per model, on a 0..1 scale (hand-made SVG). `compact` fits a catalog
 * card; the full one labels each bar with the model's full name. `intervals` (measured figures)
 * draws each model's 95% bootstrap interval as a whisker across its bar.
 */
export function MetricChart({
  metrics,
  source,
  baseModel,
  metricName,
  compact = false,
  intervals = {},
}: {
  metrics: Fig[];
  source: MetricSource;
  baseModel: string;
  metricName: string;
  compact?: boolean;
  intervals?: Partial<Record<ModelLabel, CI | null>>;
}) {
  const rows = MODEL_ORDER.map((label) => ({ label, value: metrics.find((m) => m.modelLabel === label && m.source === source)?.value })).filter(
    (r): r is { label: ModelLabel; value: number } => r.value !== undefined,
  );
  if (rows.length === 0) return null;
  const rowH = compact ? 14 : 24;
  const gap = compact ? 3 : 6;
  const labelW = compact ? 92 : 190;
  const valueW = compact ? 30 : 40;
  const width = compact ? 300 : 560;
  const barW = width - labelW - valueW;
  const height = rows.length * (rowH + gap) - gap;
  const fontSize = compact ? 10 : 13;
  const ciText = (label: ModelLabel) => {
    const ci = intervals[label];
    return ci ? ` (95% CI ${formatScore(ci.low)} to ${formatScore(ci.high)})` : "";
  };
  const summary = rows.map((r) => `${modelName(r.label, baseModel)} ${formatScore(r.value)}${ciText(r.label)}`).join(", ");
  return (
    <svg
      role="img"
      aria-label={`${metricName}: ${summary}`}
      viewBox={`0 0 ${width} ${height}`}
      className="block h-auto w-full max-w-full"
      data-testid={compact ? "metric-chart-compact" : "metric-chart"}
    >
      {rows.map((r, i) => {
        const y = i * (rowH + gap);
        const w = Math.max(r.value * barW, r.value > 0 ? 1.5 : 0);
        const ci = intervals[r.label];
        const mid = y + rowH / 2;
        return (
          <g key={r.label}>
            <title>{`${modelName(r.label, baseModel)}: ${formatScore(r.value)}${ciText(r.label)}`}</title>
            <text x={labelW - 6} y={y + rowH / 2} dominantBaseline="central" textAnchor="end" fontSize={fontSize} className="fill-slate-600 dark:fill-slate-300">
              {compact ? MODEL_SHORT[r.label] : modelName(r.label, baseModel)}
            </text>
            <rect x={labelW} y={y} width={barW} height={rowH} rx={2} className="fill-slate-100 dark:fill-slate-800" />
            <rect x={labelW} y={y} width={w} height={rowH} rx={2} fill={MODEL_COLOR[r.label]} />
            {ci && (
              <g className="stroke-slate-900 dark:stroke-white" strokeOpacity={0.75} strokeWidth={compact ? 1 : 1.5} data-testid="metric-ci">
                <line x1={labelW + ci.low * barW} x2={labelW + ci.high * barW} y1={mid} y2={mid} />
                <line x1={labelW + ci.low * barW} x2={labelW + ci.low * barW} y1={mid - rowH / 4} y2={mid + rowH / 4} />
                <line x1={labelW + ci.high * barW} x2={labelW + ci.high * barW} y1={mid - rowH / 4} y2={mid + rowH / 4} />
              </g>
            )}
            <text x={labelW + barW + 4} y={y + rowH / 2} dominantBaseline="central" fontSize={fontSize} className="fill-slate-800 font-medium tabular-nums dark:fill-slate-100">
              {formatScore(r.value)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
