"use client";
/**
 * Starts an eval run of this adapter (and the base model) and shows its live progress from the
 * `eval.progress` subscription; when the run ends, the results and the catalog figures refresh.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useState } from "react";
import type { RunProgress } from "@/server/eval/run-manager";
import { useTRPC } from "@/trpc/react";

const LIMITS: { label: string; value: number | null }[] = [
  { label: "5 examples", value: 5 },
  { label: "20 examples", value: 20 },
  { label: "100 examples", value: 100 },
  { label: "Full test split", value: null },
];

/**
 * `task`: the adapter's own task card (the only one it may be evaluated on); `canCancel`: the
 * caller started the running run or is the admin (a run started from this tab is its own).
 */
export function RunButton({ slug, task, runningRunId, canCancel }: { slug: string; task: string; runningRunId: number | null; canCancel: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [limit, setLimit] = useState<number | null>(20);
  const [runId, setRunId] = useState<number | null>(null);
  const start = useMutation(
    trpc.eval.start.mutationOptions({
      onSuccess: ({ runId }) => setRunId(runId),
    }),
  );
  const watching = runId ?? runningRunId;
  // the last event is kept here: the subscription's own `data` is cleared when the server ends it
  const [last, setLast] = useState<RunProgress | null>(null);
  useSubscription(
    trpc.eval.progress.subscriptionOptions(
      { runId: watching ?? 0 },
      {
        enabled: watching !== null,
        onData: (p) => {
          setLast(p);
          if (p.status !== "running") {
            void queryClient.invalidateQueries({ queryKey: trpc.eval.results.queryKey({ slug }) });
            void queryClient.invalidateQueries({ queryKey: trpc.catalog.bySlug.queryKey({ slug }) });
          }
        },
      },
    ),
  );
  const p = last && last.runId === watching ? last : null;
  const running = (watching !== null && (!p || p.status === "running")) || start.isPending;
  const cancel = useMutation(
    trpc.eval.cancel.mutationOptions({
      onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.eval.results.queryKey({ slug }) }),
    }),
  );
  const mayCancel = running && watching !== null && (canCancel || runId === watching);

  return (
    <div className="space-y-3 rounded-xl border border-slate-200 p-4 dark:border-slate-800" data-testid="eval-run-panel">
      <div className="flex flex-wrap items-end gap-3">
        <label className="text-sm">
          <span className="block text-slate-500">Examples</span>
          <select
            className="rounded-md border border-slate-300 bg-transparent px-2 py-1.5 dark:border-slate-700"
            value={limit === null ? "all" : String(limit)}
            onChange={(e) => setLimit(e.target.value === "all" ? null : Number(e.target.value))}
            data-testid="eval-limit"
          >
            {LIMITS.map((l) => (
              <option key={l.label} value={l.value === null ? "all" : String(l.value)}>
                {l.label}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          className="rounded-md bg-brand-600 px-4 py-2 text-sm font-medium text-white hover:bg-brand-700 disabled:cursor-not-allowed disabled:opacity-60"
          disabled={running}
          onClick={() => start.mutate({ slug, task, limit })}
          data-testid="eval-start"
        >
          {running ? "Running…" : "Run eval"}
        </button>
        {mayCancel && (
          <button
            type="button"
            className="rounded-md border border-red-300 px-4 py-2 text-sm font-medium text-red-700 hover:bg-red-50 disabled:opacity-60 dark:border-red-800 dark:text-red-300 dark:hover:bg-red-950"
            disabled={cancel.isPending}
            onClick={() => cancel.mutate({ runId: watching })}
            data-testid="eval-cancel"
          >
            {cancel.isPending ? "Cancelling…" : "Cancel run"}
          </button>
        )}
      </div>
      {cancel.error && (
        <p role="alert" className="text-sm text-red-600" data-testid="eval-cancel-error">
          {cancel.error.message}
        </p>
      )}
      {start.error && (
        <p role="alert" className="text-sm text-red-600" data-testid="eval-start-error">
          {start.error.message}
        </p>
      )}
      {watching !== null && p && (
        <div aria-live="polite" data-testid="eval-progress" data-status={p.status}>
          <div className="mb-1 flex justify-between text-xs text-slate-500">
            <span>
              Run #{p.runId} · {p.status === "cancelled" ? "cancelled: the examples answered so far are kept (never the catalog's figure)" : p.status}
            </span>
            <span data-testid="eval-progress-count">
              {p.done}/{p.total} requests
            </span>
          </div>
          <progress className="h-2 w-full" max={Math.max(1, p.total)} value={p.done} aria-label="eval progress" />
          {p.error && (
            <p role="alert" className="mt-1 text-sm text-red-600">
              {p.error}
            </p>
          )}
        </div>
      )}
    </div>
  );
}
