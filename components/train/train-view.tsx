"use client";
/**
 * /train: fine-tune a LoRA adapter of the served base model. Left (top on a phone): the dataset,
 * the config in LoRA Land's shape and a preview of what the trainer will see, then Start. Right:
 * the selected run, live (?run=<id> in the URL, so a run can be linked), and every run with the
 * queue. A started run is selected at once.
 */
import { keepPreviousData, useMutation, useQuery, useQueryClient, useSuspenseQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { Suspense, useEffect, useMemo, useState } from "react";
import { useTRPC } from "@/trpc/react";
import { ConfigForm, inputClass } from "./config-form";
import { draftFrom, fieldOfError, toConfig, type ConfigDraft, type ConfigValue, type FieldError } from "./config-state";
import { DatasetPicker, type DatasetChoice } from "./dataset-picker";
import { PreviewTable, RowAccountingLine } from "./preview";
import { RunView } from "./run-view";
import { RunsList } from "./runs-list";

/** The value after it stopped changing for `ms` (the preview re-tokenizes the whole file). */
function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/** A starting template for an uploaded file: each input column on its own line, then the answer's label. */
function guessTemplate(columns: string[], output: string): string {
  const inputs = columns.filter((c) => c !== output);
  return `${inputs.map((c) => `${c}: {${c}}`).join("\n")}\n${output}:`;
}

function Step({ n, title, children, testId }: { n: number; title: string; children: React.ReactNode; testId?: string }) {
  return (
    <section aria-labelledby={`step-${n}`} className="space-y-3" data-testid={testId}>
      <h2 id={`step-${n}`} className="flex items-center gap-2 text-lg font-semibold">
        <span aria-hidden className="inline-flex h-6 w-6 items-center justify-center rounded-full bg-brand-600 text-xs font-semibold text-white">
          {n}
        </span>
        {title}
      </h2>
      {children}
    </section>
  );
}

/** A recipe file's adapter and trainer keys (app/train/page.tsx reads inference/train/recipes/*.yaml). */
export interface Recipe {
  /** the demo task it is for (the file's name) */
  task: string;
  file: string;
  adapter: ConfigValue["adapter"];
  trainer: ConfigValue["trainer"];
}

export function TrainView({ runId, recipes }: { runId: number | null; recipes: Recipe[] }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const { data: options } = useSuspenseQuery(trpc.train.options.queryOptions());
  const { data: datasets } = useSuspenseQuery(trpc.train.datasets.queryOptions());
  const { data: runs } = useSuspenseQuery(trpc.train.runs.queryOptions());

  const [dataset, setDataset] = useState<DatasetChoice | null>(null);
  // defaults: the task's own recipe, else the first recipe (the bundled adapters'), else the engine's
  const recipeFor = (task: string | null) => recipes.find((r) => r.task === task) ?? recipes[0] ?? null;
  const withRecipe = (base: Pick<ConfigDraft, "prompt_template" | "output_column">, r: Recipe | null) =>
    draftFrom({ prompt_template: base.prompt_template, output_column: base.output_column, adapter: r?.adapter ?? options.defaults.adapter, trainer: r?.trainer ?? options.defaults.trainer });
  const [recipe, setRecipe] = useState<Recipe | null>(() => recipeFor(null));
  const [draft, setDraft] = useState<ConfigDraft>(() => withRecipe(options.defaults, recipeFor(null)));
  const [name, setName] = useState("");
  const [formError, setFormError] = useState<FieldError | null>(null);

  // the run shown: the URL's, else the caller's latest open or finished run, else the running one
  const shown = runId ?? runs.runs.find((r) => r.mine)?.id ?? runs.runningId ?? null;

  function choose(d: DatasetChoice, uploadColumns?: string[]) {
    setDataset(d);
    setFormError(null);
    if (d.kind === "demo") {
      const card = datasets.demo.find((x) => x.task === d.task);
      const own = recipes.find((r) => r.task === d.task);
      if (own) {
        // the task's own recipe replaces the whole config (its template is the card's)
        setRecipe(own);
        if (card) setDraft(withRecipe({ prompt_template: card.promptTemplate, output_column: card.outputColumn }, own));
      } else if (card) setDraft((old) => ({ ...old, prompt_template: card.promptTemplate, output_column: card.outputColumn }));
    } else {
      const up = datasets.uploads.find((u) => u.id === d.id);
      const cols = uploadColumns ?? up?.columns ?? [];
      if (cols.length > 0) {
        const output = cols.includes("output") ? "output" : cols.at(-1)!;
        setDraft((old) => ({ ...old, prompt_template: guessTemplate(cols, output), output_column: output }));
      }
    }
  }

  const maxLength = Number(draft.trainer.max_length);
  // debounced as text: a string that did not change does not render again (an object would, every time)
  const previewKey = useDebounced(
    JSON.stringify(
      dataset && draft.prompt_template.trim() !== ""
        ? {
            dataset,
            promptTemplate: draft.prompt_template,
            outputColumn: draft.output_column.trim() || undefined,
            maxLength: Number.isInteger(maxLength) && maxLength >= 2 ? maxLength : 512,
            limit: 3,
          }
        : null,
    ),
    400,
  );
  const previewInput = useMemo(() => JSON.parse(previewKey) as { dataset: DatasetChoice; promptTemplate: string; outputColumn?: string; maxLength: number; limit: number } | null, [previewKey]);
  const preview = useQuery({
    ...trpc.train.preview.queryOptions(previewInput ?? { dataset: { kind: "demo", task: "-" } }),
    enabled: previewInput !== null,
    placeholderData: keepPreviousData,
    retry: false,
  });
  const previewError = useMemo(() => fieldOfError(preview.error), [preview.error]);

  const start = useMutation(
    trpc.train.start.mutationOptions({
      onSuccess: (run) => {
        void queryClient.invalidateQueries({ queryKey: trpc.train.runs.queryKey() });
        router.push(`/train?run=${run.id}`, { scroll: false });
      },
      onError: (err) => setFormError(fieldOfError(err)),
    }),
  );

  const removeUpload = useMutation(
    trpc.train.deleteDataset.mutationOptions({
      onSuccess: ({ id }) => {
        if (dataset?.kind === "upload" && dataset.id === id) setDataset(null);
        void queryClient.invalidateQueries({ queryKey: trpc.train.datasets.queryKey() });
      },
      onError: (err) => setFormError({ field: "dataset", message: err.message }),
    }),
  );

  // a run chosen or started out of sight (on a phone the run sits above the form and the list): show it
  useEffect(() => {
    if (runId === null) return;
    const el = document.getElementById("train-run-panel");
    const top = el?.getBoundingClientRect().top;
    if (el && top !== undefined && (top < 0 || top > window.innerHeight - 80)) el.scrollIntoView({ behavior: "smooth", block: "start" });
  }, [runId]);

  function submit(e: React.FormEvent) {
    e.preventDefault();
    setFormError(null);
    if (!dataset) return setFormError({ field: "dataset", message: "dataset: pick a demo task's train split or upload a file" });
    const c = toConfig(draft);
    if (!c.ok) return setFormError(c.error);
    start.mutate({ dataset, name: name.trim() || undefined, config: { ...c.config } });
  }

  // a refusal from Start wins; else the preview's (it re-checks on every edit)
  const error = formError ?? previewError;
  const datasetError = error && error.field?.startsWith("dataset") ? error.message : null;
  const columns = preview.data?.columns ?? (dataset?.kind === "upload" ? (datasets.uploads.find((u) => u.id === dataset.id)?.columns ?? []) : []);
  const demoCard = dataset?.kind === "demo" ? datasets.demo.find((d) => d.task === dataset.task) : null;

  return (
    <article className="space-y-6" data-testid="train-page">
      <header className="space-y-2">
        <h1 className="text-2xl font-semibold tracking-tight sm:text-3xl">Train an adapter</h1>
        <p className="max-w-3xl text-slate-600 dark:text-slate-300">
          Fine-tune a LoRA adapter of {options.baseModelId ?? "the served base model"} on a dataset, here on this machine. Watch the loss fall; when it ends the adapter is served next to the
          others, scored against the base model on the task&apos;s test split, and one click away from a side-by-side comparison.
        </p>
        {!options.canTrain && (
          <p role="status" className="rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950 dark:text-amber-200" data-testid="train-unavailable">
            Training needs the base model&apos;s weights on this machine, so it runs with the built-in worker only (this server uses INFERENCE_URL).
          </p>
        )}
      </header>

      {/* phone: the selected run first, then the form, then the runs; desktop: form left, run and runs right */}
      <div className="grid gap-8 lg:grid-cols-[minmax(0,7fr)_minmax(0,5fr)] lg:grid-rows-[auto_1fr]">
        <form onSubmit={submit} className="min-w-0 space-y-8 lg:col-start-1 lg:row-span-2 lg:row-start-1" data-testid="train-form" noValidate>
          <Step n={1} title="Dataset" testId="train-step-dataset">
            <DatasetPicker
              demo={datasets.demo}
              uploads={datasets.uploads}
              value={dataset}
              onChange={(d) => choose(d)}
              onUploaded={(id) => {
                void queryClient.invalidateQueries({ queryKey: trpc.train.datasets.queryKey() }).then(() => {
                  const cols = queryClient.getQueryData(trpc.train.datasets.queryKey())?.uploads.find((u) => u.id === id)?.columns;
                  choose({ kind: "upload", id }, cols);
                });
              }}
              onRemove={(id) => removeUpload.mutate({ id })}
              maxBytes={options.maxUploadBytes}
              error={datasetError}
            />
          </Step>

          <Step n={2} title="Config" testId="train-step-config">
            <p className="text-sm text-slate-600 dark:text-slate-300" data-testid="train-recipe">
              {recipe ? (
                <>
                  Defaults from <code className="rounded bg-slate-100 px-1 dark:bg-slate-800">{recipe.file}</code>, the recipe the bundled {recipe.task} adapter was trained with.
                </>
              ) : (
                "Defaults are the training engine's."
              )}{" "}
              For a quick first run, set <code className="rounded bg-slate-100 px-1 dark:bg-slate-800">max_examples</code> (e.g. 256) and one epoch.
            </p>
            <ConfigForm
              draft={draft}
              onChange={(d) => {
                setDraft(d);
                // an edit answers Start's refusal; the preview re-checks what it can
                setFormError(null);
              }}
              error={error} columns={columns} baseModel={options.baseModelId ?? "the served base model (worker offline)"} />
            {demoCard && (draft.prompt_template !== demoCard.promptTemplate || draft.output_column !== demoCard.outputColumn) && (
              <p className="rounded-md bg-amber-50 p-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-200" data-testid="train-template-changed">
                The template differs from the {demoCard.task} card&apos;s, so the adapter will not be scored on the test split.{" "}
                <button
                  type="button"
                  className="font-medium underline"
                  onClick={() => setDraft((d) => ({ ...d, prompt_template: demoCard.promptTemplate, output_column: demoCard.outputColumn }))}
                >
                  Use the card&apos;s
                </button>
              </p>
            )}
            <label className="block text-sm" htmlFor="train-name">
              <span className="mb-1 block font-medium">Adapter name (optional)</span>
              <input
                id="train-name"
                className={`${inputClass} font-mono`}
                value={name}
                onChange={(e) => setName(e.target.value.toLowerCase())}
                placeholder={demoCard ? `${demoCard.task}-lora-…` : "my-adapter"}
                aria-invalid={error?.field === "name"}
                data-testid="train-name"
              />
              {error?.field === "name" ? (
                <span className="block text-xs text-red-600 dark:text-red-400" data-testid="field-error" data-field="name">
                  {error.message}
                </span>
              ) : (
                <span className="block text-xs text-slate-500 dark:text-slate-400">Its id in the catalog and on the worker (/adapters/&lt;name&gt;). Empty: one is made from the dataset.</span>
              )}
            </label>
          </Step>

          <Step n={3} title="Preview" testId="train-step-preview">
            {!dataset ? (
              <p className="text-sm text-slate-500">Pick a dataset to see the prompts the adapter trains on.</p>
            ) : preview.data ? (
              <div className={`space-y-3 ${preview.isFetching ? "opacity-70" : ""}`} data-testid="train-preview" aria-busy={preview.isFetching}>
                <RowAccountingLine stats={preview.data.accounting} />
                {preview.data.problem && (
                  <p role="alert" className="text-sm text-red-600 dark:text-red-400" data-testid="train-preview-problem">
                    dataset: {preview.data.problem}
                  </p>
                )}
                <PreviewTable rows={preview.data.rows} />
              </div>
            ) : preview.isFetching ? (
              <p className="text-sm text-slate-500">Reading and tokenizing the dataset…</p>
            ) : previewError ? (
              <p className="text-sm text-red-600 dark:text-red-400">{previewError.message}</p>
            ) : null}
          </Step>

          <div className="flex flex-wrap items-center gap-3">
            <button
              type="submit"
              disabled={start.isPending || !options.canTrain}
              className="rounded-md bg-brand-600 px-5 py-2.5 text-sm font-medium text-white hover:bg-brand-700 disabled:cursor-not-allowed disabled:opacity-60"
              data-testid="train-start"
            >
              {start.isPending ? "Starting…" : runs.runningId !== null ? "Start (joins the queue)" : "Start training"}
            </button>
            {formError && (
              <p role="alert" className="min-w-0 break-words text-sm text-red-600 dark:text-red-400" data-testid="train-start-error" data-field={formError.field ?? ""}>
                {formError.message}
              </p>
            )}
          </div>
        </form>

        <div id="train-run-panel" className={`order-first min-w-0 scroll-mt-20 lg:order-none lg:col-start-2 lg:row-start-1 ${shown === null ? "hidden" : ""}`}>
          {shown !== null && (
            <Suspense key={shown} fallback={<p className="text-sm text-slate-500">Loading run #{shown}…</p>}>
              <RunView id={shown} />
            </Suspense>
          )}
        </div>
        <div className={`min-w-0 self-start lg:col-start-2 ${shown === null ? "lg:row-start-1" : "lg:row-start-2"}`}>
          <RunsList selected={shown} />
        </div>
      </div>
    </article>
  );
}
