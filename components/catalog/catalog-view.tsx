"use client";
import { useQuery, useSuspenseQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { useDeferredValue, useEffect, useMemo, useState } from "react";
import type { ModelLabel } from "@/db/schema/catalog";
import { Interval } from "@/components/eval/interval";
import { TrainedHereBadge } from "@/components/train/trained-here";
import { type RouterOutputs, useTRPC } from "@/trpc/react";
import { figure, formatLift, formatScore, METRIC_GLOSS, MODEL_SHORT, primarySource, SOURCE_LABEL } from "./labels";
import { LiftChart } from "./lift-chart";
import { MetricChart } from "./metric-chart";
import { RunBadge } from "./run-badge";

type Adapter = RouterOutputs["catalog"]["list"]["adapters"][number];
type SortKey = "name" | "category" | "metric" | ModelLabel | "lift" | "state";
type Collection = "all" | "runs-here" | "lora-land";

const SCORE_COLUMNS: ModelLabel[] = ["fine_tuned", "gpt_4", "gpt_35_turbo", "mistral_7b_instruct", "base"];

/** Headline figure of a model for sorting and the table: published first, else measured. */
function score(a: Adapter, label: ModelLabel): number | null {
  const src = primarySource(a.metrics);
  return src ? figure(a.metrics, label, src) : null;
}

function lift(a: Adapter): number | null {
  const ft = figure(a.metrics, "fine_tuned", "published");
  const gpt4 = figure(a.metrics, "gpt_4", "published");
  return ft !== null && gpt4 !== null ? ft - gpt4 : null;
}

function sortValue(a: Adapter, key: SortKey): string | number | null {
  switch (key) {
    case "name":
      return a.displayName.toLowerCase();
    case "category":
      return a.category.toLowerCase();
    case "metric":
      return a.metricName;
    case "lift":
      return lift(a);
    case "state":
      return a.run.runnable ? 0 : 1;
    default:
      return score(a, key);
  }
}

function compare(a: Adapter, b: Adapter, key: SortKey, dir: 1 | -1): number {
  const va = sortValue(a, key);
  const vb = sortValue(b, key);
  if (va === null && vb === null) return a.sortOrder - b.sortOrder;
  if (va === null) return 1; // missing figures last in both directions
  if (vb === null) return -1;
  const c = typeof va === "number" && typeof vb === "number" ? va - vb : String(va).localeCompare(String(vb));
  return c === 0 ? a.sortOrder - b.sortOrder : c * dir;
}

const COLLECTIONS: Collection[] = ["all", "runs-here", "lora-land"];

function parseSort(v: string | null): { key: SortKey; dir: 1 | -1 } {
  const [key, dir] = (v ?? "").split(":");
  if (key && key in SORT_LABEL) return { key: key as SortKey, dir: dir === "-1" ? -1 : 1 };
  return { key: "state", dir: 1 };
}

const SORT_LABEL: Record<SortKey, string> = {
  name: "Name",
  category: "Category",
  metric: "Metric",
  fine_tuned: "Fine-tuned score",
  gpt_4: "GPT-4 score",
  gpt_35_turbo: "GPT-3.5 score",
  mistral_7b_instruct: "Mistral-Instruct score",
  base: "Base model score",
  lift: "Lift over GPT-4",
  state: "Runnable first",
};

const inputClass =
  "rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-brand-500 dark:border-slate-700 dark:bg-slate-900";

export function CatalogView() {
  const trpc = useTRPC();
  const { data: list } = useSuspenseQuery(trpc.catalog.list.queryOptions());
  // runnable state is live: poll the small runStates query, not the whole catalog
  const { data: live } = useQuery({ ...trpc.catalog.runStates.queryOptions(), refetchInterval: 5000 });
  const data = useMemo(
    () => (live ? { worker: live.worker, adapters: list.adapters.map((a) => ({ ...a, run: live.states[a.slug] ?? a.run })) } : list),
    [list, live],
  );
  // filters live in the URL (?q=&category=&metric=&collection=&view=&sort=lift:-1): a view can be linked
  const params = useSearchParams();
  const initialSort = parseSort(params.get("sort"));
  const [query, setQuery] = useState(params.get("q") ?? "");
  const deferredQuery = useDeferredValue(query);
  const [category, setCategory] = useState(params.get("category") ?? "");
  const [metric, setMetric] = useState(params.get("metric") ?? "");
  const [collection, setCollection] = useState<Collection>(COLLECTIONS.includes(params.get("collection") as Collection) ? (params.get("collection") as Collection) : "all");
  const [view, setView] = useState<"grid" | "table">(params.get("view") === "table" ? "table" : "grid");
  const [sort, setSort] = useState<{ key: SortKey; dir: 1 | -1 }>(initialSort);
  useEffect(() => {
    const next = new URLSearchParams();
    if (deferredQuery) next.set("q", deferredQuery);
    if (category) next.set("category", category);
    if (metric) next.set("metric", metric);
    if (collection !== "all") next.set("collection", collection);
    if (view !== "grid") next.set("view", view);
    if (sort.key !== "state") next.set("sort", `${sort.key}:${sort.dir}`);
    const search = next.toString();
    if (search !== window.location.search.replace(/^\?/, "")) window.history.replaceState(null, "", search ? `?${search}` : window.location.pathname);
  }, [deferredQuery, category, metric, collection, view, sort]);

  const adapters = data.adapters;
  const categories = useMemo(() => [...new Set(adapters.map((a) => a.category))].sort(), [adapters]);
  const metricNames = useMemo(() => [...new Set(adapters.map((a) => a.metricName))].sort(), [adapters]);
  const runsHere = adapters.filter((a) => a.run.runnable);
  const bundled = adapters.filter((a) => a.collection === "runs-here");
  const loraLand = adapters.filter((a) => a.collection === "lora-land");
  const added = adapters.filter((a) => a.collection === "user");

  const shown = useMemo(() => {
    const q = deferredQuery.trim().toLowerCase();
    return adapters
      .filter((a) => !category || a.category === category)
      .filter((a) => !metric || a.metricName === metric)
      .filter((a) => collection === "all" || (collection === "runs-here" ? a.run.runnable || a.collection === "runs-here" : a.collection === "lora-land"))
      .filter(
        (a) =>
          !q ||
          [a.displayName, a.slug, a.category, a.task, a.dataset, a.description, a.metricName, a.hfRepo ?? ""].some((f) => f.toLowerCase().includes(q)),
      )
      .sort((a, b) => compare(a, b, sort.key, sort.dir));
  }, [adapters, deferredQuery, category, metric, collection, sort]);

  const lifts = loraLand.flatMap((a) => {
    const l = lift(a);
    return l === null ? [] : [{ slug: a.slug, name: a.displayName, lift: l }];
  });
  const beatGpt4 = lifts.filter((p) => p.lift >= 0).length;
  // this machine's own LoRA Land story: fine-tuned vs base model, as measured by the eval harness
  const measuredLifts = adapters.flatMap((a) => {
    const ft = figure(a.metrics, "fine_tuned", "measured");
    const base = figure(a.metrics, "base", "measured");
    return ft === null || base === null ? [] : [{ slug: a.slug, name: a.displayName, lift: ft - base, ci: a.intervals?.liftCi ?? null }];
  });

  const toggleSort = (key: SortKey) =>
    setSort((s) => (s.key === key ? { key, dir: s.dir === 1 ? -1 : 1 } : { key, dir: key === "name" || key === "category" || key === "metric" || key === "state" ? 1 : -1 }));

  return (
    <div className="space-y-8">
      <section aria-labelledby="catalog-title" className="space-y-2">
        <h1 id="catalog-title" className="text-2xl font-semibold tracking-tight sm:text-3xl">
          LoRA Land adapter catalog
        </h1>
        <p className="max-w-3xl text-slate-600 dark:text-slate-300">
          {adapters.length} task-specific LoRA adapters: the {loraLand.length} of Predibase&apos;s LoRA Land, fine-tuned from Mistral-7B-v0.1, and{" "}
          {bundled.length} bundled ones that run on this machine{added.length > 0 ? `, and ${added.length} added here` : ""}. One base model, many adapters, served by one worker.
        </p>
      </section>

      <section aria-labelledby="lift-heading" className="rounded-xl border border-slate-200 p-4 dark:border-slate-800">
        <div className="mb-3 flex flex-wrap items-baseline justify-between gap-2">
          <h2 id="lift-heading" className="text-lg font-semibold">
            Lift over GPT-4
          </h2>
          <p className="text-sm text-slate-600 dark:text-slate-300" data-testid="lift-summary">
            {beatGpt4} of {lifts.length} fine-tuned 7B adapters match or beat GPT-4 on their task · {SOURCE_LABEL.published}
          </p>
        </div>
        <div className="hidden sm:block">
          <LiftChart points={lifts} />
        </div>
        <div className="sm:hidden">
          <LiftChart points={lifts} narrow />
        </div>
        <p className="mt-2 text-xs text-slate-500">
          Fine-tuned score minus GPT-4&apos;s, same task and metric, 1000 held-out examples each (February 2024).
        </p>
      </section>

      <section aria-labelledby="runs-here-heading" className="space-y-3" data-testid="runs-here">
        <div className="flex flex-wrap items-baseline justify-between gap-2">
          <h2 id="runs-here-heading" className="text-lg font-semibold">
            Runs here
          </h2>
          <p className="text-sm text-slate-600 dark:text-slate-300">
            {data.worker.online && data.worker.ready
              ? `${runsHere.length} adapters runnable on the connected worker (${data.worker.modelId ?? "unknown model"})`
              : data.worker.online
                ? "The worker is loading its model…"
                : "The worker is offline: these are the adapters the bundled worker serves."}
          </p>
        </div>
        {measuredLifts.length > 0 && (
          <figure className="rounded-xl border border-slate-200 p-4 dark:border-slate-800" data-testid="measured-lift">
            <figcaption className="mb-3 flex flex-wrap items-baseline justify-between gap-2">
              <span className="font-medium">Lift over the base model</span>
              <span className="text-sm text-slate-600 dark:text-slate-300">
                {measuredLifts.filter((p) => p.lift > 0).length} of {measuredLifts.length} adapters beat their base model · {SOURCE_LABEL.measured}
              </span>
            </figcaption>
            <div className="hidden sm:block">
              <LiftChart points={measuredLifts} id="measured-lift" title="Lift over the base model, measured here" />
            </div>
            <div className="sm:hidden">
              <LiftChart points={measuredLifts} id="measured-lift" title="Lift over the base model, measured here" narrow />
            </div>
          </figure>
        )}
        <ul className="flex flex-wrap gap-2">
          {(runsHere.length ? runsHere : bundled).map((a) => (
            <li key={a.slug}>
              <Link
                href={`/adapters/${a.slug}`}
                className="inline-flex items-center gap-2 rounded-full border border-slate-200 px-3 py-1 text-sm hover:border-brand-500 hover:text-brand-700 dark:border-slate-700 dark:hover:text-brand-100"
              >
                {a.displayName}
                <RunBadge run={a.run} />
              </Link>
            </li>
          ))}
        </ul>
      </section>

      <section aria-labelledby="all-heading" className="space-y-4">
        <h2 id="all-heading" className="scroll-mt-20 text-lg font-semibold">
          All adapters
        </h2>
        <form role="search" className="flex flex-wrap items-end gap-3" onSubmit={(e) => e.preventDefault()}>
          <label className="flex min-w-56 flex-1 flex-col gap-1 text-sm">
            <span className="font-medium">Search</span>
            <input
              type="search"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
              placeholder="Name, task, dataset…"
              className={inputClass}
              data-testid="catalog-search"
            />
          </label>
          <label className="flex flex-col gap-1 text-sm">
            <span className="font-medium">Category</span>
            <select value={category} onChange={(e) => setCategory(e.target.value)} className={inputClass} data-testid="filter-category">
              <option value="">All categories</option>
              {categories.map((c) => (
                <option key={c}>{c}</option>
              ))}
            </select>
          </label>
          <label className="flex flex-col gap-1 text-sm">
            <span className="font-medium">Metric</span>
            <select value={metric} onChange={(e) => setMetric(e.target.value)} className={inputClass} data-testid="filter-metric">
              <option value="">All metrics</option>
              {metricNames.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </label>
          <label className="flex flex-col gap-1 text-sm">
            <span className="font-medium">Collection</span>
            <select value={collection} onChange={(e) => setCollection(e.target.value as Collection)} className={inputClass} data-testid="filter-collection">
              <option value="all">All</option>
              <option value="runs-here">Runs here</option>
              <option value="lora-land">LoRA Land (Mistral-7B)</option>
            </select>
          </label>
          <label className="flex flex-col gap-1 text-sm">
            <span className="font-medium">Sort by</span>
            <select
              value={`${sort.key}:${sort.dir}`}
              onChange={(e) => {
                const [key, dir] = e.target.value.split(":");
                setSort({ key: key as SortKey, dir: Number(dir) as 1 | -1 });
              }}
              className={inputClass}
              data-testid="sort-select"
            >
              {(Object.keys(SORT_LABEL) as SortKey[]).flatMap((k) => [
                <option key={`${k}:1`} value={`${k}:1`}>
                  {SORT_LABEL[k]} {k === "state" ? "" : "↑"}
                </option>,
                k === "state" ? null : (
                  <option key={`${k}:-1`} value={`${k}:-1`}>
                    {SORT_LABEL[k]} ↓
                  </option>
                ),
              ])}
            </select>
          </label>
          <div role="group" aria-label="View" className="flex overflow-hidden rounded-md border border-slate-300 text-sm dark:border-slate-700">
            {(["grid", "table"] as const).map((v) => (
              <button
                key={v}
                type="button"
                aria-pressed={view === v}
                onClick={() => setView(v)}
                data-testid={`view-${v}`}
                className={`px-3 py-2 capitalize ${view === v ? "bg-brand-600 text-white" : "bg-white hover:bg-slate-100 dark:bg-slate-900 dark:hover:bg-slate-800"}`}
              >
                {v}
              </button>
            ))}
          </div>
        </form>
        <p className="text-sm text-slate-600 dark:text-slate-300" aria-live="polite" data-testid="result-count">
          {shown.length} of {adapters.length} adapters
        </p>

        {shown.length === 0 ? (
          <p className="rounded-lg border border-dashed border-slate-300 p-8 text-center text-slate-500 dark:border-slate-700">No adapter matches these filters.</p>
        ) : view === "grid" ? (
          <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3" data-testid="adapter-grid">
            {shown.map((a) => (
              <AdapterCard key={a.slug} adapter={a} />
            ))}
          </ul>
        ) : (
          <AdapterTable adapters={shown} sort={sort} onSort={toggleSort} />
        )}
      </section>
    </div>
  );
}

/** Every figure shows how many examples it was measured on. */
function FigureN({ metrics, source }: { metrics: Adapter["metrics"]; source: Adapter["metrics"][number]["source"] }) {
  const n = metrics.find((m) => m.source === source && m.modelLabel === "fine_tuned")?.examples;
  return <span data-testid="figure-n"> · n = {n ?? "?"}</span>;
}

/** A measured-here figure's 95% bootstrap interval (the fine-tuned score's, from its eval run's examples). */
function FigureCI({ adapter: a, source }: { adapter: Adapter; source: Adapter["metrics"][number]["source"] }) {
  if (source !== "measured" || !a.intervals?.ci) return null;
  return (
    <span>
      {" "}
      · 95% CI <Interval ci={a.intervals.ci} testId="figure-ci" format="score" inherit />
    </span>
  );
}

const measuredIntervals = (a: Adapter) => ({ fine_tuned: a.intervals?.ci ?? null, base: a.intervals?.baseCi ?? null });

function AdapterCard({ adapter: a }: { adapter: Adapter }) {
  const src = primarySource(a.metrics);
  return (
    <li className="flex flex-col gap-3 rounded-xl border border-slate-200 p-4 hover:border-slate-300 dark:border-slate-800 dark:hover:border-slate-700" data-testid="adapter-card" data-slug={a.slug}>
      <div className="flex items-start justify-between gap-2">
        <h3 className="font-medium leading-snug">
          <Link href={`/adapters/${a.slug}`} className="hover:underline" data-testid="adapter-link">
            {a.displayName}
          </Link>
        </h3>
        <RunBadge run={a.run} />
      </div>
      {!a.run.runnable && a.run.state !== "offline" && (
        <p className="text-xs text-slate-500 dark:text-slate-400" data-testid="run-reason">
          {a.run.reason}
        </p>
      )}
      <p className="flex flex-wrap gap-x-2 text-xs text-slate-500 dark:text-slate-400">
        <span className="rounded bg-slate-100 px-1.5 py-0.5 text-slate-700 dark:bg-slate-800 dark:text-slate-200">{a.category}</span>
        {a.trainedHere && <TrainedHereBadge runId={a.trainedHere.runId} />}
        <span title={METRIC_GLOSS[a.metricName]}>metric: {a.metricName}</span>
        <span>base: {a.baseModel.displayName}</span>
      </p>
      {src ? (
        <figure className="space-y-1">
          <MetricChart metrics={a.metrics} source={src} baseModel={a.baseModel.displayName} metricName={a.metricName} compact intervals={src === "measured" ? measuredIntervals(a) : {}} />
          <figcaption className="text-[11px] text-slate-500">
            <span data-testid="figure-source">{SOURCE_LABEL[src]}</span>
            <FigureN metrics={a.metrics} source={src} />
            <FigureCI adapter={a} source={src} />
          </figcaption>
        </figure>
      ) : (
        <p className="text-xs text-slate-500">Not measured yet — run the eval to score it here.</p>
      )}
      <div className="mt-auto flex gap-3 text-sm">
        <Link href={`/adapters/${a.slug}`} className="text-brand-700 hover:underline dark:text-brand-300">
          Details
        </Link>
        {a.run.runnable && (
          <Link href={`/playground?adapter=${encodeURIComponent(a.slug)}`} className="text-brand-700 hover:underline dark:text-brand-300">
            Try it
          </Link>
        )}
        {a.run.runnable && (
          <Link href={`/arena?task=${encodeURIComponent(a.taskCard ?? a.slug)}`} data-testid="arena-link" className="text-brand-700 hover:underline dark:text-brand-300">
            Arena
          </Link>
        )}
      </div>
    </li>
  );
}

function AdapterTable({ adapters, sort, onSort }: { adapters: Adapter[]; sort: { key: SortKey; dir: 1 | -1 }; onSort: (k: SortKey) => void }) {
  const header = (key: SortKey, label: string, numeric = false) => (
    <th scope="col" aria-sort={sort.key === key ? (sort.dir === 1 ? "ascending" : "descending") : "none"} className={`px-3 py-2 font-medium ${numeric ? "text-right" : "text-left"}`}>
      <button type="button" onClick={() => onSort(key)} className="inline-flex items-center gap-1 hover:underline" data-testid={`sort-${key}`}>
        {label}
        <span aria-hidden className="text-slate-400">
          {sort.key === key ? (sort.dir === 1 ? "▲" : "▼") : "↕"}
        </span>
      </button>
    </th>
  );
  return (
    <div className="relative overflow-x-auto rounded-xl border border-slate-200 dark:border-slate-800">
      <table className="w-full min-w-[900px] text-sm" data-testid="adapter-table">
        <caption className="sr-only">Adapters with their scores; published figures by Predibase unless marked measured here</caption>
        <thead className="bg-slate-50 text-slate-600 dark:bg-slate-900 dark:text-slate-300">
          <tr>
            {header("name", "Adapter")}
            {header("category", "Category")}
            {header("metric", "Metric")}
            {SCORE_COLUMNS.map((k) => header(k, MODEL_SHORT[k], true))}
            {header("lift", "Lift vs GPT-4", true)}
            <th scope="col" className="px-3 py-2 text-left font-medium">
              Source
            </th>
            {header("state", "State")}
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
          {adapters.map((a) => {
            const src = primarySource(a.metrics);
            const l = lift(a);
            return (
              <tr key={a.slug} data-testid="adapter-row" data-slug={a.slug} className="hover:bg-slate-50 dark:hover:bg-slate-900">
                <th scope="row" className="px-3 py-2 text-left font-medium">
                  <Link href={`/adapters/${a.slug}`} className="hover:underline">
                    {a.displayName}
                  </Link>
                  {a.trainedHere && (
                    <span className="ml-2 align-middle">
                      <TrainedHereBadge runId={a.trainedHere.runId} />
                    </span>
                  )}
                </th>
                <td className="px-3 py-2">{a.category}</td>
                <td className="px-3 py-2" title={METRIC_GLOSS[a.metricName]}>
                  {a.metricName}
                </td>
                {SCORE_COLUMNS.map((k) => (
                  <td key={k} className="px-3 py-2 text-right tabular-nums" data-col={k}>
                    {formatScore(score(a, k))}
                  </td>
                ))}
                <td className={`px-3 py-2 text-right tabular-nums ${l === null ? "" : l >= 0 ? "text-emerald-700 dark:text-emerald-400" : "text-rose-700 dark:text-rose-400"}`} data-col="lift">
                  {formatLift(l)}
                </td>
                <td className="px-3 py-2 text-xs text-slate-500">
                  {src ? SOURCE_LABEL[src] : "—"}
                  {src && <FigureN metrics={a.metrics} source={src} />}
                  {src && <FigureCI adapter={a} source={src} />}
                </td>
                <td className="px-3 py-2">
                  <RunBadge run={a.run} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
