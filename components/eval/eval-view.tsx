"use client";
/**
 * An adapter's evaluation page: its latest measured score next to the base model's, the runs
 * that measured it (web and command line), the examples of a run, and a button to run again.
 */
import { useMutation, useQuery, useQueryClient, useSuspenseQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";
import { CompareRuns } from "./compare-runs";
import { ExamplesTable } from "./examples-table";
import { Interval } from "./interval";
import { PublishedVsMeasured } from "./published-vs-measured";
import { RunButton } from "./run-button";
import { ScoreBars } from "./score-bars";

const when = (d: Date | null) => (d ? `${d.toISOString().slice(0, 16).replace("T", " ")} UTC` : "–");

export function EvalView({ slug }: { slug: string }) {
  const trpc = useTRPC();
  const { data: adapter } = useSuspenseQuery(trpc.catalog.bySlug.queryOptions({ slug }));
  const { data } = useSuspenseQuery({ ...trpc.eval.results.queryOptions({ slug }), refetchInterval: 10_000 });
  const { data: tasks } = useSuspenseQuery(trpc.eval.tasks.queryOptions());
  const [selected, setSelected] = useState<number | null>(null);
  const results = data.results;
  const current = results.find((r) => r.id === selected) ?? results[0] ?? null;
  // an adapter is evaluated on its own task card only (server/eval/headline.ts)
  const ownTask = tasks.find((t) => t.slug === adapter.taskCard) ?? null;
  const { data: me } = useQuery(trpc.access.me.queryOptions());
  const queryClient = useQueryClient();
  const setHeadline = useMutation(
    trpc.eval.setHeadline.mutationOptions({
      onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.catalog.bySlug.queryKey({ slug }) }),
    }),
  );
  const headlineBy = adapter.metrics.find((m) => m.source === "measured" && m.modelLabel === "fine_tuned")?.measuredBy ?? "";
  const isHeadline = (runId: number) => headlineBy.startsWith(`eval run #${runId},`);
  const headline = results.find((r) => isHeadline(r.run.id)) ?? null;

  return (
    <article className="space-y-8" data-testid="eval-page">
      <nav aria-label="Breadcrumb" className="text-sm text-slate-500">
        <Link href="/" className="hover:underline">
          Catalog
        </Link>{" "}
        /{" "}
        <Link href={`/adapters/${slug}`} className="hover:underline">
          {adapter.displayName}
        </Link>{" "}
        / <span>Evaluation</span>
      </nav>
      <header className="space-y-2">
        <h1 className="text-2xl font-semibold tracking-tight sm:text-3xl">Evaluation: {adapter.displayName}</h1>
        <p className="max-w-3xl text-slate-600 dark:text-slate-300">
          The adapter and its base model ({adapter.baseModel.displayName}) answer the same test prompts, greedy, scored by {adapter.metricName}. Runs from{" "}
          <code className="rounded bg-slate-100 px-1 dark:bg-slate-800">npm run eval</code> show up here too.
        </p>
      </header>

      {ownTask && !adapter.run.runnable ? (
        <p className="text-sm text-slate-500" data-testid="eval-not-runnable">
          This adapter cannot run on the connected worker ({adapter.run.reason}), so it cannot be evaluated here.
        </p>
      ) : ownTask ? (
        <RunButton slug={slug} task={ownTask.slug} runningRunId={data.runningRunId} canCancel={data.canCancel} />
      ) : (
        <p className="text-sm text-slate-500" data-testid="eval-no-task">
          This adapter has no task card here, so it cannot be evaluated from this page.
        </p>
      )}

      {current ? (
        <section aria-labelledby="score-heading" className="space-y-3 rounded-xl border border-slate-200 p-4 dark:border-slate-800" data-testid="eval-score">
          <h2 id="score-heading" className="flex flex-wrap items-baseline justify-between gap-2">
            <span className="text-lg font-medium">Measured here</span>
            <span className="text-xs text-slate-500">
              run #{current.run.id} · {current.run.origin === "cli" ? "command line" : "web"}
              {current.run.status === "cancelled" ? " · cancelled (partial)" : ""} · {current.metric} · {current.n} examples · {when(current.run.finishedAt)}
            </span>
          </h2>
          <ScoreBars score={current.score} baseScore={current.baseScore} metric={current.metric} baseModel={adapter.baseModel.displayName} ci={current.ci} baseCi={current.baseCi} />
          <p className="text-xs text-slate-500">Brackets: 95% bootstrap interval (1000 resamples of the per-example scores).</p>
        </section>
      ) : (
        <p className="rounded-xl border border-dashed border-slate-300 p-4 text-sm text-slate-500 dark:border-slate-700" data-testid="eval-empty">
          {ownTask && adapter.run.runnable ? (
            <>
              No eval run yet. Start one above, or run <code>npm run eval -- --adapters {slug}</code>.
            </>
          ) : (
            "No eval run yet."
          )}
        </p>
      )}

      {results.length > 0 && (
        <section aria-labelledby="runs-heading" className="space-y-2">
          <h2 id="runs-heading" className="text-lg font-medium">
            Runs
          </h2>
          <div className="overflow-x-auto">
            <table className="w-full text-sm" data-testid="eval-runs">
              <thead>
                <tr className="border-b border-slate-200 text-left text-slate-500 dark:border-slate-800">
                  <th className="py-2 pr-3">Run</th>
                  <th className="py-2 pr-3">Finished</th>
                  <th className="py-2 pr-3">From</th>
                  <th className="py-2 pr-3 text-right">Examples</th>
                  <th className="py-2 pr-3 text-right">Fine-tuned</th>
                  <th className="py-2 pr-3 text-right">Base</th>
                  <th className="py-2 pr-3">Headline</th>
                </tr>
              </thead>
              <tbody>
                {results.map((r) => (
                  <tr key={r.id} className={`border-b border-slate-100 dark:border-slate-900 ${r.id === current?.id ? "bg-slate-50 dark:bg-slate-900" : ""}`} data-testid="eval-run-row">
                    <td className="py-2 pr-3">
                      <button type="button" className="text-brand-700 hover:underline dark:text-brand-300" aria-pressed={r.id === current?.id} onClick={() => setSelected(r.id)}>
                        #{r.run.id}
                      </button>
                    </td>
                    <td className="py-2 pr-3">{when(r.run.finishedAt)}</td>
                    <td className="py-2 pr-3" data-testid="eval-run-origin">
                      {r.run.origin === "cli" ? "command line" : "web"}
                      {r.run.status === "cancelled" && (
                        <span className="ml-1 rounded bg-amber-100 px-1 text-xs text-amber-900 dark:bg-amber-950 dark:text-amber-200" data-testid="eval-run-cancelled">
                          cancelled
                        </span>
                      )}
                    </td>
                    <td className="py-2 pr-3 text-right tabular-nums">{r.n}</td>
                    <td className="py-2 pr-3 text-right tabular-nums">
                      {(r.score * 100).toFixed(1)}% <Interval ci={r.ci} testId="eval-run-ci" />
                    </td>
                    <td className="py-2 pr-3 text-right tabular-nums">
                      {r.baseScore === null ? "–" : `${(r.baseScore * 100).toFixed(1)}%`} {r.baseScore !== null && <Interval ci={r.baseCi} />}
                    </td>
                    <td className="py-2 pr-3" data-testid="eval-run-headline">
                      {isHeadline(r.run.id) ? (
                        "catalog figure"
                      ) : me?.admin && r.run.exampleLimit === null && r.run.status === "done" ? (
                        <button type="button" className="text-brand-700 hover:underline dark:text-brand-300" disabled={setHeadline.isPending} onClick={() => setHeadline.mutate({ resultId: r.id })}>
                          Use in catalog
                        </button>
                      ) : (
                        <span className="text-slate-500" title="Only a run over the full test split can be the catalog's figure; the admin picks which">
                          –
                        </span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {setHeadline.error && (
            <p role="alert" className="text-sm text-red-600">
              {setHeadline.error.message}
            </p>
          )}
        </section>
      )}

      <PublishedVsMeasured metrics={adapter.metrics} baseModel={adapter.baseModel.displayName} intervals={headline ? { fine_tuned: headline.ci, base: headline.baseCi } : {}} />

      <CompareRuns results={results} />

      {current && <ExamplesTable key={current.id} resultId={current.id} metric={current.metric} />}
    </article>
  );
}
