"use client";
/**
 * Every training run on this server, newest first: the running one, the queue (with each run's
 * place in line), and the finished ones with their final loss. A row opens the run's view.
 */
import { useSuspenseQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useTRPC } from "@/trpc/react";
import { loss, when } from "./format";
import { StatusBadge } from "./run-view";

export function RunsList({ selected }: { selected: number | null }) {
  const trpc = useTRPC();
  const { data } = useSuspenseQuery({
    ...trpc.train.runs.queryOptions(),
    // the queue moves on its own (other visitors' runs): look again while anything is open
    refetchInterval: (q) => (q.state.data && (q.state.data.runningId !== null || q.state.data.queued > 0) ? 3000 : 15_000),
  });
  return (
    <section aria-labelledby="runs-heading" className="space-y-2" data-testid="train-runs">
      <h2 id="runs-heading" className="flex flex-wrap items-baseline justify-between gap-2">
        <span className="text-lg font-semibold">Runs</span>
        <span className="text-xs text-slate-500" data-testid="train-queue-summary">
          {data.runningId !== null ? `#${data.runningId} training` : "none training"} · {data.queued} queued
        </span>
      </h2>
      {data.runs.length === 0 ? (
        <p className="rounded-lg border border-dashed border-slate-300 p-3 text-sm text-slate-500 dark:border-slate-700">No runs yet. Pick a dataset and start one.</p>
      ) : (
        <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 dark:divide-slate-800 dark:border-slate-800" role="list">
          {data.runs.map((r) => (
            <li key={r.id} data-testid="train-run-row" data-run-id={r.id} data-status={r.status}>
              <Link
                href={`/train?run=${r.id}`}
                scroll={false}
                aria-current={r.id === selected ? "true" : undefined}
                className={`grid grid-cols-[1fr_auto] items-center gap-x-3 gap-y-0.5 px-3 py-2 text-sm hover:bg-slate-50 dark:hover:bg-slate-900 ${r.id === selected ? "bg-slate-50 dark:bg-slate-900" : ""}`}
              >
                <span className="min-w-0 truncate">
                  <span className="text-slate-500">#{r.id}</span> <span className="font-mono">{r.adapterSlug}</span>
                </span>
                <span className="justify-self-end">
                  <StatusBadge status={r.status} />
                </span>
                <span className="min-w-0 truncate text-xs text-slate-500 dark:text-slate-400">
                  {r.datasetName}
                  {r.mine ? " · yours" : ""}
                </span>
                <span className="text-right text-xs text-slate-500 tabular-nums dark:text-slate-400" data-testid="train-run-row-detail">
                  {r.status === "queued"
                    ? r.position !== null
                      ? `number ${r.position} in line`
                      : "queued"
                    : r.status === "running"
                      ? `step ${r.step}/${r.totalSteps}`
                      : r.status === "done"
                        ? `loss ${loss(r.trainLoss)} · ${when(r.finishedAt).slice(11)}`
                        : when(r.finishedAt ?? r.createdAt).slice(11)}
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
