"use client";
/**
 * The loss curve of a training run (hand-made SVG, like the catalog's charts): train loss per
 * optimizer step as a line, validation loss (when the run has a validation set) as dots joined by
 * a dashed line. The x axis spans the run's total steps so the curve grows left to right while it
 * trains; the y axis starts at 0 and ends just above the highest loss seen. It is drawn at the
 * width it is shown at (a ResizeObserver), so its labels keep their size on a phone.
 */
import { useEffect, useRef, useState } from "react";

export interface LossPoint {
  step: number;
  loss: number;
  valLoss?: number | null;
}

const H = 200;
const PAD = { left: 40, right: 12, top: 10, bottom: 26 };

/** A "nice" axis maximum (1, 2, 2.5 or 5 × a power of ten) at or above `v`. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function LossChart({ points, totalSteps }: { points: LossPoint[]; totalSteps: number }) {
  const box = useRef<HTMLDivElement>(null);
  const [W, setW] = useState(600);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setW(Math.max(200, Math.round(el.clientWidth)));
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const train = points.filter((p) => Number.isFinite(p.loss));
  const val = points.filter((p): p is LossPoint & { valLoss: number } => typeof p.valLoss === "number" && Number.isFinite(p.valLoss));
  const xMax = Math.max(1, totalSteps, ...train.map((p) => p.step));
  const yMax = niceMax(Math.max(0, ...train.map((p) => p.loss), ...val.map((p) => p.valLoss)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (step: number) => PAD.left + (step / xMax) * plotW;
  const y = (loss: number) => PAD.top + plotH - (Math.min(loss, yMax) / yMax) * plotH;
  const path = (pts: { step: number; v: number }[]) => pts.map((p, i) => `${i === 0 ? "M" : "L"}${x(p.step).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * yMax);
  const xTicks = [...new Set((W < 400 ? [0, 0.5, 1] : [0, 0.25, 0.5, 0.75, 1]).map((f) => Math.round(f * xMax)))];
  const last = train.at(-1);
  const lastVal = val.at(-1);
  const summary =
    train.length === 0
      ? "No loss recorded yet"
      : `Train loss ${train[0]!.loss.toFixed(3)} at step ${train[0]!.step}, ${last!.loss.toFixed(3)} at step ${last!.step} of ${totalSteps}` +
        (lastVal ? `; validation loss ${lastVal.valLoss.toFixed(3)} at step ${lastVal.step}` : "");
  return (
    <figure className="space-y-2" data-testid="loss-chart" data-points={train.length} data-val-points={val.length}>
      <div ref={box}>
        <svg role="img" aria-label={summary} viewBox={`0 0 ${W} ${H}`} className="block h-auto w-full max-w-full">
          {yTicks.map((t) => (
            <g key={`y${t}`}>
              <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} className="stroke-slate-200 dark:stroke-slate-800" strokeWidth={1} />
              <text x={PAD.left - 6} y={y(t)} dominantBaseline="central" textAnchor="end" fontSize={11} className="fill-slate-500 tabular-nums dark:fill-slate-400">
                {Number(t.toPrecision(3))}
              </text>
            </g>
          ))}
          {xTicks.map((t) => (
            <text key={`x${t}`} x={x(t)} y={H - 8} textAnchor={t === 0 ? "start" : t === xMax ? "end" : "middle"} fontSize={11} className="fill-slate-500 tabular-nums dark:fill-slate-400">
              {t}
            </text>
          ))}
          {train.length === 0 && (
            <text x={PAD.left + plotW / 2} y={PAD.top + plotH / 2} textAnchor="middle" dominantBaseline="central" fontSize={13} className="fill-slate-400 dark:fill-slate-500">
              the curve starts with the first optimizer step
            </text>
          )}
          {train.length > 1 && <path d={path(train.map((p) => ({ step: p.step, v: p.loss })))} fill="none" stroke="var(--color-series-ft)" strokeWidth={2} strokeLinejoin="round" />}
          {train.length === 1 && <circle cx={x(train[0]!.step)} cy={y(train[0]!.loss)} r={3} fill="var(--color-series-ft)" />}
          {val.length > 1 && <path d={path(val.map((p) => ({ step: p.step, v: p.valLoss })))} fill="none" stroke="var(--color-series-instruct)" strokeWidth={1.5} strokeDasharray="4 3" />}
          {val.map((p) => (
            <circle key={`v${p.step}`} cx={x(p.step)} cy={y(p.valLoss)} r={3} fill="var(--color-series-instruct)" />
          ))}
        </svg>
      </div>
      <figcaption className="flex flex-wrap items-center gap-x-4 gap-y-1 text-xs text-slate-500 dark:text-slate-400">
        <span className="inline-flex items-center gap-1.5">
          <span aria-hidden className="inline-block h-0.5 w-4" style={{ background: "var(--color-series-ft)" }} />
          train loss
        </span>
        {val.length > 0 && (
          <span className="inline-flex items-center gap-1.5">
            <span aria-hidden className="inline-block h-2 w-2 rounded-full" style={{ background: "var(--color-series-instruct)" }} />
            validation loss
          </span>
        )}
        <span>x: optimizer step · y: mean cross-entropy on the output tokens</span>
      </figcaption>
    </figure>
  );
}
