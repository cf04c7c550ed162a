"use client";
/**
 * One training run, live: its place in the queue, then step / epoch, the train and validation
 * loss curve, tokens/s and ETA from the `train.progress` subscription (the events are merged into
 * the `train.run` query's data, so the page has one copy of the run), and Cancel. At the end: the
 * new adapter's catalog page ("trained here"), its score against the base model on the task's
 * test split once the harness has scored it, and a one-click comparison with the base model.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import { useState } from "react";
import { ScoreBars } from "@/components/eval/score-bars";
import { useTRPC, type RouterOutputs } from "@/trpc/react";
import { Bar } from "./bar";
import { configYaml, duration, loss, rate, STATUS_STYLE, STATUS_TEXT, when } from "./format";
import { LossChart } from "./loss-chart";
import { RowAccountingLine } from "./preview";

type RunData = RouterOutputs["train"]["run"];
type Run = RunData["run"];
type Point = RunData["points"][number];

export function StatusBadge({ status }: { status: Run["status"] }) {
  return (
    <span className={`inline-flex items-center gap-1 whitespace-nowrap rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${STATUS_STYLE[status]}`} data-testid="train-status" data-status={status}>
      {status === "running" && <span aria-hidden className="h-1.5 w-1.5 animate-pulse rounded-full bg-brand-500" />}
      {STATUS_TEXT[status]}
    </span>
  );
}

function mergePoints(old: Point[], added: Point[]): Point[] {
  if (added.length === 0) return old;
  const byStep = new Map(old.map((p) => [p.step, p]));
  for (const p of added) byStep.set(p.step, p);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

function Stat({ label, value, testId, hint }: { label: string; value: string; testId: string; hint?: string }) {
  return (
    <div className="min-w-0">
      <dt className="text-xs text-slate-500 dark:text-slate-400">{label}</dt>
      <dd className="font-mono text-base tabular-nums" data-testid={testId} title={hint}>
        {value}
      </dd>
    </div>
  );
}

/** The adapter's score on its task's test split (latest harness result), or the eval in progress. */
function EvalScore({ run }: { run: Run }) {
  const trpc = useTRPC();
  const lastEval = run.evalRunIds.at(-1) ?? null;
  const results = useQuery({
    ...trpc.eval.results.queryOptions({ slug: run.adapterSlug }),
    refetchInterval: (q) => (lastEval !== null && !q.state.data?.results.some((r) => r.run.id === lastEval) ? 3000 : false),
  });
  const mine = results.data?.results.find((r) => lastEval !== null && r.run.id === lastEval) ?? results.data?.results[0] ?? null;
  const pending = lastEval !== null && !results.data?.results.some((r) => r.run.id === lastEval);
  const [progress, setProgress] = useState<{ done: number; total: number; status: string; error?: string | null } | null>(null);
  useSubscription(trpc.eval.progress.subscriptionOptions({ runId: lastEval ?? 0 }, { enabled: pending, onData: (p) => setProgress(p) }));

  if (!run.taskCard) {
    return (
      <p className="text-sm text-slate-500" data-testid="train-eval-none">
        {run.dataset.kind === "demo"
          ? `Not scored: the prompt template or output column differs from the ${run.dataset.task} task card's, and its test split is scored with the card's.`
          : "Not scored: an uploaded dataset has no test split here."}
      </p>
    );
  }
  return (
    <div className="space-y-2" data-testid="train-eval" data-state={mine && !pending ? "scored" : pending ? "running" : "waiting"}>
      <h4 className="flex flex-wrap items-baseline justify-between gap-2 text-sm font-medium">
        <span>
          Score on the <code>{run.taskCard}</code> test split
        </span>
        {mine && !pending && (
          <span className="text-xs font-normal text-slate-500">
            {mine.metric} · {mine.n} examples · eval run #{mine.run.id}
          </span>
        )}
      </h4>
      {mine && !pending ? (
        <>
          <ScoreBars score={mine.score} baseScore={mine.baseScore} metric={mine.metric} baseModel={run.baseModelId} ci={mine.ci} baseCi={mine.baseCi} />
          {mine.baseScore !== null && (
            <p className={`text-sm font-medium ${mine.score > mine.baseScore ? "text-emerald-700 dark:text-emerald-400" : "text-slate-600 dark:text-slate-300"}`} data-testid="train-eval-lift">
              {mine.score > mine.baseScore ? "Beats" : mine.score < mine.baseScore ? "Trails" : "Ties"} the base model
              {mine.score !== mine.baseScore && ` by ${(Math.abs(mine.score - mine.baseScore) * 100).toFixed(1)} points`} on the held-out test split.
            </p>
          )}
        </>
      ) : (
        <div className="space-y-1 text-sm text-slate-600 dark:text-slate-300">
          <p>{pending ? `The eval harness is scoring the adapter and the base model (eval run #${lastEval})…` : "Waiting for the eval harness to start…"}</p>
          {pending && progress && (
            <>
              <Bar value={progress.done} max={Math.max(1, progress.total)} label="eval progress" />
              <p className="text-xs text-slate-500 tabular-nums">
                {progress.done}/{progress.total} requests{progress.error ? ` · ${progress.error}` : ""}
              </p>
            </>
          )}
        </div>
      )}
    </div>
  );
}

export function RunView({ id }: { id: number }) {
  const trpc = useTRPC();
  const q = useQuery({
    ...trpc.train.run.queryOptions({ id }),
    // after the run ends the harness scores it: look again until its eval runs are known
    refetchInterval: (query) => {
      const r = query.state.data?.run;
      return r && r.status === "done" && r.taskCard && r.evalRunIds.length === 0 ? 3000 : false;
    },
    retry: (n, err) => err.data?.code !== "NOT_FOUND" && n < 3,
  });
  if (q.error) {
    return (
      <p role="alert" className="rounded-xl border border-red-300 bg-red-50 p-4 text-sm text-red-700 dark:border-red-900 dark:bg-red-950 dark:text-red-200" data-testid="train-run-missing">
        {q.error.message}
      </p>
    );
  }
  if (!q.data) return <p className="text-sm text-slate-500">Loading run #{id}…</p>;
  return <RunPanel id={id} data={q.data} />;
}

function RunPanel({ id, data }: { id: number; data: RunData }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const key = trpc.train.run.queryKey({ id });
  const { run, points } = data;
  const open = run.status === "queued" || run.status === "running";
  // the points already loaded when the page opened; the subscription sends the ones after them
  const [afterStep] = useState(() => points.at(-1)?.step ?? 0);
  useSubscription(
    trpc.train.progress.subscriptionOptions(
      { runId: id, afterStep },
      {
        enabled: open,
        onData: (ev) => {
          const prev = queryClient.getQueryData(key);
          queryClient.setQueryData(key, (old) => (old ? { run: ev.run, points: mergePoints(old.points, ev.points) } : old));
          if (prev && prev.run.status !== ev.run.status) {
            void queryClient.invalidateQueries({ queryKey: trpc.train.runs.queryKey() });
            if (ev.run.status === "done") void queryClient.invalidateQueries({ queryKey: trpc.catalog.list.queryKey() });
          }
        },
      },
    ),
  );
  const cancel = useMutation(
    trpc.train.cancel.mutationOptions({
      onSuccess: (r) => {
        queryClient.setQueryData(key, (old) => (old ? { ...old, run: r } : old));
        void queryClient.invalidateQueries({ queryKey: trpc.train.runs.queryKey() });
      },
    }),
  );
  const pct = run.totalSteps > 0 ? Math.min(100, (run.step / run.totalSteps) * 100) : 0;
  const lastVal = [...points].reverse().find((p) => p.valLoss !== null)?.valLoss ?? run.valLoss;

  return (
    <section aria-labelledby="run-heading" className="space-y-4 rounded-xl border border-slate-200 p-4 dark:border-slate-800" data-testid="train-run" data-run-id={run.id} data-status={run.status}>
      <header className="space-y-1">
        <div className="flex flex-wrap items-center justify-between gap-2">
          <h2 id="run-heading" className="min-w-0 break-words text-lg font-semibold">
            Run #{run.id}: <span className="font-mono text-base">{run.adapterSlug}</span>
          </h2>
          <StatusBadge status={run.status} />
        </div>
        <p className="text-xs text-slate-500 dark:text-slate-400">
          {run.datasetName} · base {run.baseModelId} · {run.mine ? "started by you" : "started by another visitor"} · {when(run.createdAt)}
        </p>
      </header>

      {run.status === "queued" && (
        <p className="rounded-md bg-slate-50 p-3 text-sm dark:bg-slate-900" data-testid="train-queue-position">
          Queued{run.position !== null ? `: number ${run.position} in line` : ""}. One run trains at a time on this server; it starts when the runs before it end.
        </p>
      )}

      {run.status !== "queued" && (
        <div className="space-y-1">
          <div className="flex flex-wrap justify-between gap-x-3 text-xs text-slate-500 tabular-nums dark:text-slate-400">
            <span data-testid="train-step">
              step {run.step} of {run.totalSteps} · epoch {run.epoch.toFixed(2)} of {run.config.trainer.epochs}
            </span>
            <span>{pct.toFixed(0)}%</span>
          </div>
          <Bar value={run.step} max={Math.max(1, run.totalSteps)} label="training progress" />
          {run.status === "running" && run.step === 0 && <p className="text-xs text-slate-500 dark:text-slate-400">Loading the base model and tokenizing the dataset…</p>}
        </div>
      )}

      <dl className="grid grid-cols-2 gap-3 sm:grid-cols-4">
        <Stat label="train loss" value={loss(run.trainLoss)} testId="train-loss" hint="the last step's mean loss on the output tokens" />
        <Stat label="validation loss" value={run.config.trainer.validation_split > 0 ? loss(lastVal) : "no split"} testId="train-val-loss" />
        <Stat label="tokens/s" value={rate(run.tokensPerS)} testId="train-tokens-per-s" />
        {open ? <Stat label="ETA" value={run.status === "queued" ? "–" : duration(run.etaS)} testId="train-eta" /> : <Stat label="took" value={duration(run.seconds)} testId="train-seconds" />}
      </dl>

      <LossChart points={points.map((p) => ({ step: p.step, loss: p.trainLoss, valLoss: p.valLoss }))} totalSteps={run.totalSteps} />

      {run.canCancel && (
        <button
          type="button"
          onClick={() => cancel.mutate({ runId: run.id })}
          disabled={cancel.isPending}
          className="rounded-md border border-red-300 px-4 py-2 text-sm font-medium text-red-700 hover:bg-red-50 disabled:opacity-60 dark:border-red-800 dark:text-red-300 dark:hover:bg-red-950"
          data-testid="train-cancel"
        >
          {cancel.isPending ? "Cancelling…" : run.status === "queued" ? "Remove from queue" : "Cancel run"}
        </button>
      )}
      {cancel.error && (
        <p role="alert" className="text-sm text-red-600 dark:text-red-400">
          {cancel.error.message}
        </p>
      )}
      {run.status === "failed" && (
        <p role="alert" className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-700 dark:border-red-900 dark:bg-red-950 dark:text-red-200" data-testid="train-error">
          {run.error ?? "The run failed."}
        </p>
      )}
      {run.status === "cancelled" && (
        <p className="text-sm text-slate-600 dark:text-slate-300" data-testid="train-cancelled">
          Cancelled at step {run.step}; no adapter was made.
        </p>
      )}

      {run.status === "done" && (
        <div className="space-y-4 rounded-lg bg-emerald-50/60 p-3 dark:bg-emerald-950/30" data-testid="train-done">
          <p className="text-sm">
            The adapter{" "}
            <Link href={`/adapters/${encodeURIComponent(run.adapterSlug)}`} className="font-mono font-medium text-brand-700 hover:underline dark:text-brand-100" data-testid="train-adapter-link">
              {run.adapterSlug}
            </Link>{" "}
            is served by the worker and listed in the catalog as trained here.
          </p>
          <div className="flex flex-wrap gap-2">
            <Link
              href={`/compare?adapters=${encodeURIComponent(run.adapterSlug)},base`}
              className="rounded-md bg-brand-600 px-4 py-2 text-sm font-medium text-white hover:bg-brand-700"
              data-testid="train-compare-link"
            >
              Compare with base
            </Link>
            <Link href={`/playground?adapter=${encodeURIComponent(run.adapterSlug)}`} className="rounded-md border border-slate-300 px-4 py-2 text-sm hover:bg-white dark:border-slate-700 dark:hover:bg-slate-900">
              Try it
            </Link>
            <Link href={`/adapters/${encodeURIComponent(run.adapterSlug)}`} className="rounded-md border border-slate-300 px-4 py-2 text-sm hover:bg-white dark:border-slate-700 dark:hover:bg-slate-900">
              Adapter page
            </Link>
          </div>
          <EvalScore run={run} />
        </div>
      )}

      <details className="text-sm">
        <summary className="cursor-pointer text-slate-600 dark:text-slate-300">Config and dataset</summary>
        <div className="mt-2 space-y-2">
          <RowAccountingLine stats={run.rowAccounting} />
          <pre className="overflow-x-auto rounded bg-slate-50 p-3 font-mono text-xs dark:bg-slate-900" data-testid="train-run-config">
            {configYaml(run.config)}
          </pre>
        </div>
      </details>
    </section>
  );
}
