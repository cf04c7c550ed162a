/**
 * What the trainer will see: the first rows rendered with the template (prompt, answer, token
 * counts, and what became of the row), and the whole dataset's row accounting — rows dropped
 * (missing a column, empty answer, prompt too long) and rows cut at max_length, counted.
 */

import type { TrainRowAccounting } from "@/db/schema/train";
import type { PreviewRow } from "@/server/train/datasets";

export type { PreviewRow };
export type RowAccounting = TrainRowAccounting;

const STATUS: Record<PreviewRow["status"], { text: string; cls: string }> = {
  ok: { text: "used", cls: "bg-emerald-50 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200" },
  truncated: { text: "cut at max_length", cls: "bg-amber-50 text-amber-900 dark:bg-amber-950 dark:text-amber-200" },
  too_long: { text: "dropped: prompt too long", cls: "bg-rose-50 text-rose-800 dark:bg-rose-950 dark:text-rose-200" },
  missing_column: { text: "dropped: missing column", cls: "bg-rose-50 text-rose-800 dark:bg-rose-950 dark:text-rose-200" },
  empty_output: { text: "dropped: empty answer", cls: "bg-rose-50 text-rose-800 dark:bg-rose-950 dark:text-rose-200" },
};

const fmt = (n: number) => n.toLocaleString("en-US");

/** The dropped rows by reason, as short phrases. */
export function droppedParts(s: RowAccounting): string[] {
  const parts: string[] = [];
  for (const [c, n] of Object.entries(s.missingColumn)) if (n > 0) parts.push(`${fmt(n)} missing “${c}”`);
  if (s.invalidRows) parts.push(`${fmt(s.invalidRows)} not a JSON object`);
  if (s.emptyOutput) parts.push(`${fmt(s.emptyOutput)} with an empty answer`);
  if (s.tooLong) parts.push(`${fmt(s.tooLong)} with a prompt of max_length tokens or more`);
  return parts;
}

export function RowAccountingLine({ stats }: { stats: RowAccounting }) {
  const dropped = stats.rows - stats.usable;
  const parts = droppedParts(stats);
  return (
    <p className="text-sm" data-testid="train-accounting" data-rows={stats.rows} data-usable={stats.usable} data-dropped={dropped} data-truncated={stats.truncated}>
      <strong className="tabular-nums">{fmt(stats.usable)}</strong> of {fmt(stats.rows)} rows usable
      {stats.usable > 0 && (
        <>
          {" "}
          · {fmt(stats.tokens)} tokens ({fmt(stats.targetTokens)} in answers), up to {fmt(stats.maxTokens)} per row
        </>
      )}
      {dropped > 0 && (
        <span className="text-rose-700 dark:text-rose-300" data-testid="train-dropped">
          {" "}
          · {fmt(dropped)} dropped ({parts.join(", ")})
        </span>
      )}
      {stats.truncated > 0 && (
        <span className="text-amber-800 dark:text-amber-300" data-testid="train-truncated">
          {" "}
          · {fmt(stats.truncated)} cut at max_length
        </span>
      )}
    </p>
  );
}

export function PreviewTable({ rows }: { rows: PreviewRow[] }) {
  return (
    <ol className="space-y-2" data-testid="train-preview-rows">
      {rows.map((r) => {
        const s = STATUS[r.status];
        return (
          <li key={r.index} className="rounded-lg border border-slate-200 p-3 text-sm dark:border-slate-800" data-testid="train-preview-row" data-status={r.status}>
            <div className="mb-2 flex flex-wrap items-center gap-2 text-xs text-slate-500">
              <span>row {r.index + 1}</span>
              <span className={`rounded px-1.5 py-0.5 ${s.cls}`}>
                {s.text}
                {r.missing ? ` “${r.missing}”` : ""}
              </span>
              {r.promptTokens !== undefined && (
                <span className="tabular-nums" data-testid="train-preview-tokens">
                  {r.promptTokens} prompt + {r.targetTokens ?? 0} answer tokens
                </span>
              )}
            </div>
            {r.prompt !== undefined && (
              <pre className="max-h-40 overflow-auto whitespace-pre-wrap break-words rounded bg-slate-50 p-2 font-mono text-xs text-slate-800 dark:bg-slate-900 dark:text-slate-200">
                {r.prompt}
              </pre>
            )}
            {r.output !== undefined && (
              <p className="mt-1 break-words font-mono text-xs">
                <span className="text-slate-500">answer → </span>
                <span className="text-emerald-700 dark:text-emerald-400">{r.output === "" ? "(empty)" : r.output}</span>
              </p>
            )}
          </li>
        );
      })}
    </ol>
  );
}
