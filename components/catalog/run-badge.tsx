import type { RunState } from "@/server/inference/runnable";

const STYLE: Record<RunState, string> = {
  runnable: "bg-emerald-50 text-emerald-800 ring-emerald-200 dark:bg-emerald-950 dark:text-emerald-200 dark:ring-emerald-800",
  loading: "bg-amber-50 text-amber-800 ring-amber-200 dark:bg-amber-950 dark:text-amber-200 dark:ring-amber-800",
  offline: "bg-slate-100 text-slate-600 ring-slate-200 dark:bg-slate-800 dark:text-slate-300 dark:ring-slate-700",
  "other-base": "bg-slate-100 text-slate-600 ring-slate-200 dark:bg-slate-800 dark:text-slate-300 dark:ring-slate-700",
  missing: "bg-slate-100 text-slate-600 ring-slate-200 dark:bg-slate-800 dark:text-slate-300 dark:ring-slate-700",
  failed: "bg-rose-50 text-rose-800 ring-rose-200 dark:bg-rose-950 dark:text-rose-200 dark:ring-rose-800",
};

const TEXT: Record<RunState, string> = {
  runnable: "Runnable",
  loading: "Worker loading",
  offline: "Worker offline",
  "other-base": "Not runnable here",
  missing: "Not on this worker",
  failed: "Failed to load",
};

/** Whether the adapter runs on the connected worker now, with the reason on hover and for screen readers. */
export function RunBadge({ run }: { run: { state: RunState; reason: string } }) {
  return (
    <span
      title={run.reason}
      data-testid="run-badge"
      data-state={run.state}
      className={`inline-flex items-center gap-1 whitespace-nowrap rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${STYLE[run.state]}`}
    >
      <span aria-hidden className={`h-1.5 w-1.5 rounded-full ${run.state === "runnable" ? "bg-emerald-500" : run.state === "failed" ? "bg-rose-500" : "bg-slate-400"}`} />
      {TEXT[run.state]}
      <span className="sr-only">: {run.reason}</span>
    </span>
  );
}
