"use client";
import { useSuspenseQuery } from "@tanstack/react-query";
import Link from "next/link";
import { Interval } from "@/components/eval/interval";
import { configYaml } from "@/components/train/format";
import { TrainedHereBadge } from "@/components/train/trained-here";
import { useTRPC } from "@/trpc/react";
import { figure, formatLift, METRIC_GLOSS, SOURCE_LABEL } from "./labels";
import { MetricChart } from "./metric-chart";
import { RunBadge } from "./run-badge";
import { TemplateView } from "./template-view";

export function AdapterDetail({ slug }: { slug: string }) {
  const trpc = useTRPC();
  const { data: a } = useSuspenseQuery({ ...trpc.catalog.bySlug.queryOptions({ slug }), refetchInterval: 5000 });
  const published = a.metrics.filter((m) => m.source === "published");
  const measured = a.metrics.filter((m) => m.source === "measured");
  const ft = figure(a.metrics, "fine_tuned", "published");
  const gpt4 = figure(a.metrics, "gpt_4", "published");
  const lastMeasured = measured.reduce<Date | null>((d, m) => (!d || m.measuredAt > d ? m.measuredAt : d), null);
  const base = a.baseModel.displayName;

  return (
    <article className="space-y-8" data-testid="adapter-detail">
      <nav aria-label="Breadcrumb" className="text-sm text-slate-500">
        <Link href="/" className="hover:underline">
          Catalog
        </Link>{" "}
        / <span>{a.displayName}</span>
      </nav>
      <header className="space-y-3">
        <div className="flex flex-wrap items-center gap-3">
          <h1 className="text-2xl font-semibold tracking-tight sm:text-3xl">{a.displayName}</h1>
          <RunBadge run={a.run} />
        </div>
        <p className="max-w-3xl text-slate-600 dark:text-slate-300">{a.description}</p>
        <dl className="grid max-w-3xl grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm">
          <dt className="text-slate-500">Category</dt>
          <dd>{a.category}</dd>
          {a.task && (
            <>
              <dt className="text-slate-500">Task</dt>
              <dd>{a.task}</dd>
            </>
          )}
          <dt className="text-slate-500">Dataset</dt>
          <dd>
            {a.datasetLink && /^https?:\/\//.test(a.datasetLink) ? (
              <a href={a.datasetLink.split(" ")[0]} className="text-brand-700 hover:underline dark:text-brand-300" rel="noreferrer" target="_blank">
                {a.dataset}
              </a>
            ) : (
              a.dataset || a.trainedHere?.datasetName || <span className="text-slate-500">not given</span>
            )}
          </dd>
          <dt className="text-slate-500">Base model</dt>
          <dd>
            {a.baseModel.displayName} <span className="text-slate-500">({a.baseModel.parameters ?? "?"} parameters)</span>
          </dd>
          <dt className="text-slate-500">Metric</dt>
          <dd>
            {a.metricName}
            {METRIC_GLOSS[a.metricName] && <span className="text-slate-500"> — {METRIC_GLOSS[a.metricName]}</span>}
          </dd>
          <dt className="text-slate-500">Adapter</dt>
          <dd>
            {a.hfRepo ? (
              <a href={`https://huggingface.co/${a.hfRepo}`} className="text-brand-700 hover:underline dark:text-brand-300" rel="noreferrer" target="_blank" data-testid="hf-link">
                {a.hfRepo} on Hugging Face
              </a>
            ) : (
              <span>
                <code>{a.adapterId}</code> {a.collection === "runs-here" ? "(bundled with this project)" : "(no published repository)"}
              </span>
            )}
          </dd>
          {a.trainedHere && (
            <>
              <dt className="text-slate-500">Trained here</dt>
              <dd data-testid="trained-here-detail">
                <TrainedHereBadge runId={a.trainedHere.runId} /> run #{a.trainedHere.runId} on {a.trainedHere.datasetName}
                {a.trainedHere.finishedAt && <span className="text-slate-500"> · {a.trainedHere.finishedAt.toISOString().slice(0, 16).replace("T", " ")} UTC</span>}
              </dd>
            </>
          )}
          <dt className="text-slate-500">On this worker</dt>
          <dd data-testid="run-reason">{a.run.reason}</dd>
          {a.note && (
            <>
              <dt className="text-slate-500">Note</dt>
              <dd>{a.note}</dd>
            </>
          )}
        </dl>
        <div className="flex flex-wrap gap-3 pt-1">
          {a.run.runnable ? (
            <Link
              href={`/playground?adapter=${encodeURIComponent(a.slug)}`}
              className="rounded-md bg-brand-600 px-4 py-2 text-sm font-medium text-white hover:bg-brand-700"
              data-testid="try-it"
            >
              Try it
            </Link>
          ) : (
            <span className="cursor-not-allowed rounded-md bg-slate-200 px-4 py-2 text-sm font-medium text-slate-500 dark:bg-slate-800" aria-disabled="true" title={a.run.reason} data-testid="try-it-disabled">
              Try it — not runnable here
            </span>
          )}
          {a.run.runnable && (
            <Link href={`/compare?adapters=${encodeURIComponent(a.slug)},base`} className="rounded-md border border-slate-300 px-4 py-2 text-sm hover:bg-slate-50 dark:border-slate-700 dark:hover:bg-slate-900">
              Compare with base
            </Link>
          )}
          {a.collection !== "lora-land" && (
            <Link href={`/adapters/${a.slug}/eval`} className="rounded-md border border-slate-300 px-4 py-2 text-sm hover:bg-slate-50 dark:border-slate-700 dark:hover:bg-slate-900">
              Evaluation
            </Link>
          )}
        </div>
      </header>

      {a.run.state === "other-base" && (
        <p className="max-w-3xl rounded-lg bg-slate-50 p-3 text-sm text-slate-600 dark:bg-slate-900 dark:text-slate-300" data-testid="how-to-run">
          To run it, serve <code>{a.baseModelId}</code> with LoRAX (or vLLM with <code>--enable-lora</code>) on a GPU and start
          this app with <code>INFERENCE_URL</code> pointing at it{a.hfRepo ? <> — the adapter <code>{a.hfRepo}</code> is then loaded from the Hugging Face Hub on first use</> : null}. See
          &ldquo;Deployment&rdquo; in the README.
        </p>
      )}

      <section aria-labelledby="scores-heading" className="grid gap-6 lg:grid-cols-2">
        <h2 id="scores-heading" className="sr-only">
          Scores
        </h2>
        {published.length > 0 && (
          <figure className="rounded-xl border border-slate-200 p-4 dark:border-slate-800">
            <figcaption className="mb-3 flex flex-wrap items-baseline justify-between gap-2">
              <span className="font-medium">{SOURCE_LABEL.published}</span>
              <span className="text-xs text-slate-500">
                {a.metricName} · {published[0]!.examples ?? "?"} test examples
                {ft !== null && gpt4 !== null && ` · lift over GPT-4 ${formatLift(ft - gpt4)}`}
              </span>
            </figcaption>
            <MetricChart metrics={a.metrics} source="published" baseModel={base} metricName={a.metricName} />
          </figure>
        )}
        {measured.length > 0 ? (
          <figure className="rounded-xl border border-slate-200 p-4 dark:border-slate-800">
            <figcaption className="mb-3 flex flex-wrap items-baseline justify-between gap-2">
              <span className="font-medium">{SOURCE_LABEL.measured}</span>
              <span className="text-xs text-slate-500">
                {a.metricName} · {measured[0]!.examples ?? "?"} examples · {lastMeasured?.toISOString().slice(0, 16).replace("T", " ")} UTC · {measured[0]!.measuredBy}
              </span>
            </figcaption>
            <MetricChart metrics={a.metrics} source="measured" baseModel={base} metricName={a.metricName} intervals={{ fine_tuned: a.intervals?.ci ?? null, base: a.intervals?.baseCi ?? null }} />
            {a.intervals?.ci && (
              <p className="mt-2 text-xs text-slate-500" data-testid="measured-ci">
                95% bootstrap intervals (whiskers): fine-tuned <Interval ci={a.intervals.ci} testId="measured-ci-fine-tuned" format="score" />
                {a.intervals.baseCi && (
                  <>
                    {" "}
                    · base model <Interval ci={a.intervals.baseCi} testId="measured-ci-base" format="score" />
                  </>
                )}
                {a.intervals.liftCi && (
                  <>
                    {" "}
                    · lift <Interval ci={a.intervals.liftCi} testId="measured-ci-lift" format="score" />
                  </>
                )}{" "}
                · {a.intervals.ci.resamples} resamples of the {a.intervals.ci.n} examples&apos; scores.
              </p>
            )}
          </figure>
        ) : (
          a.collection !== "lora-land" && (
            <div className="rounded-xl border border-dashed border-slate-300 p-4 text-sm text-slate-500 dark:border-slate-700">
              Not measured here yet. Run <code>npm run eval -- --adapters {a.slug}</code> or open the evaluation page.
            </div>
          )
        )}
      </section>

      {a.trainedHere && (
        <section aria-labelledby="training-heading" className="space-y-3">
          <h2 id="training-heading" className="text-lg font-semibold">
            Training config
          </h2>
          <p className="text-sm text-slate-600 dark:text-slate-300">
            Trained on this server by{" "}
            <Link href={`/train?run=${a.trainedHere.runId}`} className="text-brand-700 hover:underline dark:text-brand-300">
              run #{a.trainedHere.runId}
            </Link>
            , on {a.trainedHere.datasetName}, with this config; <code>npm run train</code> reads the same keys.
          </p>
          <pre className="overflow-x-auto rounded-lg bg-slate-50 p-3 font-mono text-xs dark:bg-slate-900" data-testid="trained-here-config">
            {configYaml(a.trainedHere.config)}
          </pre>
        </section>
      )}

      <section aria-labelledby="template-heading" className="space-y-3">
        <h2 id="template-heading" className="text-lg font-semibold">
          Prompt template
        </h2>
        {a.promptTemplate ? (
          <>
            <p className="text-sm text-slate-600 dark:text-slate-300">
              The exact completion-style prompt the adapter was trained with. Variables:{" "}
              {a.inputColumns.map((c, i) => (
                <span key={c}>
                  {i > 0 && ", "}
                  <code className="rounded bg-slate-100 px-1 dark:bg-slate-800">{c}</code>
                </span>
              ))}
              {a.targetColumn && (
                <>
                  ; the model writes <code className="rounded bg-slate-100 px-1 dark:bg-slate-800">{a.targetColumn}</code>
                  {a.expectedOutputFormat && ` (${a.expectedOutputFormat})`}
                </>
              )}
              .
            </p>
            <TemplateView template={a.promptTemplate} />
          </>
        ) : (
          <p className="text-sm text-slate-500">Predibase did not publish this adapter&apos;s prompt template.</p>
        )}
      </section>

      {a.sampleInputs.length > 0 && (
        <section aria-labelledby="samples-heading" className="space-y-3">
          <h2 id="samples-heading" className="text-lg font-semibold">
            Sample inputs
          </h2>
          <p className="text-sm text-slate-600 dark:text-slate-300">{a.collection === "user" ? "Given by whoever added this adapter." : "The first rows of the held-out test split."}</p>
          <ol className="space-y-3" data-testid="sample-inputs">
            {a.sampleInputs.map((row, i) => (
              <li key={i} className="rounded-lg border border-slate-200 p-3 text-sm dark:border-slate-800">
                <dl className="space-y-1">
                  {Object.entries(row).map(([k, v]) => (
                    <div key={k} className="grid gap-1 sm:grid-cols-[8rem_1fr]">
                      <dt className="font-mono text-xs text-slate-500">{k}</dt>
                      <dd className="line-clamp-4 break-words">{v}</dd>
                    </div>
                  ))}
                </dl>
              </li>
            ))}
          </ol>
        </section>
      )}
    </article>
  );
}
