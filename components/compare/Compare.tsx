"use client";
/**
 * /compare: 2–6 panes (adapters or the base model) on the same input and parameters, streaming at
 * once (the worker batches them). Per pane status, stats, stop, retry; sync scroll; aggregate tokens/s;
 * with two panes, their answers diffed word by word.
 */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import { WordDiff } from "../arena/WordDiff";
import type { GenerationParams, PromptMode } from "../../db/schema/chats";
import { useTRPC } from "@/trpc/react";
import { AutorunConfirm } from "../playground/AutorunConfirm";
import { OutputPane } from "../playground/OutputPane";
import { outputKindOf } from "../playground/output-format";
import { ParamsPanel } from "../playground/ParamsPanel";
import { CopyLinkButton, defaultParams, ModelSelect, modelLabel, PanesPlaceholder, useMounted, usePromptTokens, workerAdapterId } from "../playground/Playground";
import { renderOrError, TemplateForm } from "../playground/TemplateForm";
import { templateColumns } from "../playground/template";
import { isRunning, liveTokensPerSecond, type PaneView } from "../playground/run-state";
import { RunSubscription, useRuns } from "../playground/use-run";
import { BASE, setupQuery, type PageSetup } from "../playground/url-state";
import { ShareButton } from "../share/ShareDialog";
import { schemaFromCard } from "../playground/structured-output";
import { MergeEditor } from "./MergeEditor";
import { defaultRecipe, isRecipeLabel, parseRecipe, recipeLabel } from "./merged-recipe";

const GRID: Record<number, string> = {
  1: "md:grid-cols-1",
  2: "md:grid-cols-2",
  3: "md:grid-cols-3",
  4: "md:grid-cols-2 xl:grid-cols-4",
  5: "md:grid-cols-3 2xl:grid-cols-5",
  6: "md:grid-cols-3 2xl:grid-cols-6",
};

function AggregateRate({ panes, startedAt }: { panes: PaneView[]; startedAt: (number | null)[] }) {
  const [now, setNow] = useState(() => Date.now());
  const running = panes.some((p) => isRunning(p.status));
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [running]);
  const rates = panes.map((p, i) => liveTokensPerSecond(p, startedAt[i] ?? null, now)).filter((x): x is number => x !== null);
  const total = rates.reduce((a, b) => a + b, 0);
  return (
    <span className="text-sm text-slate-600 dark:text-slate-300" data-testid="aggregate-tps">
      Aggregate: <span className="font-mono">{rates.length ? total.toFixed(1) : "–"}</span> tok/s over {rates.length} stream{rates.length === 1 ? "" : "s"}
    </span>
  );
}

export function Compare({ setup }: { setup: PageSetup }) {
  const trpc = useTRPC();
  const mounted = useMounted();
  const catalog = useQuery(trpc.catalog.list.queryOptions());
  const adapters = useMemo(() => (catalog.data?.adapters ?? []).filter((a) => a.collection !== "lora-land" || a.run.runnable), [catalog.data]);
  // panes: the user's setup, else the link's, else the first runnable adapter vs the base model (as LoRA Land did)
  const [userModels, setUserModels] = useState<string[] | null>(null);
  const models =
    userModels ??
    (setup.models.length >= 2 ? setup.models : setup.models.length === 1 ? [setup.models[0]!, BASE] : [adapters.find((a) => a.run.runnable)?.slug ?? BASE, BASE]);
  const setModels = (f: (m: string[]) => string[]) => setUserModels(f(models));
  const primary = adapters.find((a) => a.slug === models.find((m) => m !== BASE)) ?? null;
  const template = primary?.promptTemplate ?? null;
  const [mode, setMode] = useState<PromptMode>(setup.mode === "raw" || setup.prompt ? "raw" : "template");
  const effectiveMode: PromptMode = mode === "template" && template ? "template" : "raw";
  const [edited, setEdited] = useState<Record<string, string> | null>(null);
  const inputs = edited ?? (Object.keys(setup.inputs).length > 0 ? setup.inputs : { ...(primary?.sampleInputs[0] ?? {}) });
  const [raw, setRaw] = useState(setup.prompt ?? "");
  const [editedParams, setEditedParams] = useState<GenerationParams | null>(null);
  const params = editedParams ?? { ...defaultParams(primary), ...setup.params };
  const cardSchema = schemaFromCard(primary);
  const [schemaProblem, setSchemaProblem] = useState<string | null>(null);
  const schemaBlocks = schemaProblem !== null && !!params.response_format;
  // a merged pane merges adapters this worker serves
  const mergeChoices = adapters.filter((a) => a.run.runnable).map((a) => ({ id: a.adapterId, name: a.displayName }));
  const [showTokens, setShowTokens] = useState(false);
  const [syncScroll, setSyncScroll] = useState(true);
  // two panes: their answers diffed word by word once both have ended
  const [showDiff, setShowDiff] = useState(false);
  const r = useRuns();
  const ids = models.map((m) => workerAdapterId(m, adapters));
  const panes = ids.map((id, i) => r.paneAt(i, id));
  const anyRunning = r.anyRunning;

  // template mode: each pane fills ITS OWN adapter's template with the shared inputs (the base
  // model, which has none, gets the first adapter's); the form asks for every pane's fields
  const paneTemplate = (m: string) => adapters.find((a) => a.slug === m)?.promptTemplate ?? template;
  const columnSet = new Set<string>();
  for (const m of models) {
    const t = paneTemplate(m);
    try {
      if (t) for (const c of templateColumns(t)) columnSet.add(c);
    } catch {}
  }
  const columns = [...columnSet];
  const distinctTemplates = new Set(models.map((m) => paneTemplate(m))).size;
  const renderedPanes = models.map((m) => (effectiveMode === "template" && template ? renderOrError(paneTemplate(m) ?? template, inputs) : { prompt: raw, error: null }));
  const rendered = renderedPanes.find((x) => x.error) ?? renderedPanes[0] ?? { prompt: raw, error: null };
  const prompt = renderedPanes[0]?.prompt ?? raw;
  const prompts = renderedPanes.map((x) => x.prompt);
  const tokenCount = usePromptTokens(prompt);
  const request = (only?: number) => {
    const ps = only === undefined ? prompts : [prompts[only] ?? prompt];
    return { mode: effectiveMode, prompt: ps[0] ?? prompt, prompts: ps.length > 1 && ps.some((x) => x !== ps[0]) ? ps : undefined, inputs: effectiveMode === "template" ? inputs : undefined, params };
  };
  const runAll = () => {
    if (prompts.every((x) => x.trim()) && !anyRunning && !schemaBlocks) void r.start(request(), models.map((_, i) => i), ids);
  };

  // autorun=1 links ask first (components/playground/AutorunConfirm.tsx)
  const [autorunAsked, setAutorunAsked] = useState(setup.autorun);

  // synchronised scrolling: the scrolled pane sets the others to the same fraction
  const bodies = useRef<(HTMLDivElement | null)[]>([]);
  const syncing = useRef(false);
  const onScroll = (i: number) => () => {
    if (!syncScroll || syncing.current) return;
    const src = bodies.current[i];
    if (!src) return;
    const frac = src.scrollTop / Math.max(1, src.scrollHeight - src.clientHeight);
    syncing.current = true;
    bodies.current.forEach((b, j) => {
      if (b && j !== i) b.scrollTop = frac * (b.scrollHeight - b.clientHeight);
    });
    requestAnimationFrame(() => (syncing.current = false));
  };

  if (!mounted || catalog.isPending) return <PanesPlaceholder title="Compare" />;
  return (
    <div className="relative left-1/2 flex w-[calc(100vw-2rem)] sm:w-[calc(100vw-3rem)] max-w-[120rem] -translate-x-1/2 flex-col gap-4">
      {autorunAsked && catalog.data && prompt && (
        <AutorunConfirm
          models={models.length}
          onRun={() => {
            setAutorunAsked(false);
            runAll();
          }}
          onDismiss={() => setAutorunAsked(false)}
        />
      )}
      <div className="flex flex-wrap items-end gap-3">
        <h1 className="mr-4 text-xl font-semibold">Compare</h1>
        <div role="tablist" className="flex gap-1 text-sm" aria-label="Prompt mode">
          {(["template", "raw"] as const).map((m) => (
            <button
              key={m}
              role="tab"
              type="button"
              aria-selected={effectiveMode === m}
              disabled={m === "template" && !template}
              onClick={() => setMode(m)}
              className={`rounded px-3 py-1 disabled:opacity-40 ${effectiveMode === m ? "bg-slate-900 text-white dark:bg-slate-100 dark:text-slate-900" : "border border-slate-300 dark:border-slate-700"}`}
            >
              {m === "template" ? `Template${primary ? ` (${primary.displayName})` : ""}` : "Raw prompt"}
            </button>
          ))}
        </div>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={showTokens} onChange={(e) => setShowTokens(e.target.checked)} /> Tokens
        </label>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" data-testid="sync-scroll" checked={syncScroll} onChange={(e) => setSyncScroll(e.target.checked)} /> Sync scroll
        </label>
        {models.length === 2 && (
          <label className="flex items-center gap-2 text-sm">
            <input type="checkbox" data-testid="compare-diff-toggle" checked={showDiff} onChange={(e) => setShowDiff(e.target.checked)} /> Word diff
          </label>
        )}
        <AggregateRate panes={panes} startedAt={r.startedAt} />
      </div>
      <div className="grid gap-4 lg:grid-cols-[minmax(0,2fr)_minmax(0,1fr)]">
        <div className="flex min-w-0 flex-col gap-3">
          {effectiveMode === "template" && template ? (
            <>
              <TemplateForm template={template} columns={columns} inputs={inputs} onChange={setEdited} samples={primary?.sampleInputs ?? []} tokenCount={tokenCount} />
              {models.length > 1 && (
                <p className="text-xs text-slate-500 dark:text-slate-400" data-testid="template-hint">
                  {distinctTemplates > 1 ? "Each pane fills its own adapter’s template with these inputs" : "Every pane gets this template"}
                  {models.includes(BASE) && primary ? `; the base model gets ${primary.displayName}’s.` : "."} The prompt above is {primary?.displayName ?? "the first pane"}’s.
                </p>
              )}
            </>
          ) : (
            <textarea
              data-testid="raw-prompt"
              aria-label="Prompt"
              rows={5}
              value={raw}
              onChange={(e) => setRaw(e.target.value)}
              className="rounded border border-slate-300 bg-white px-2 py-1 font-mono text-sm dark:border-slate-700 dark:bg-slate-900"
            />
          )}
          {rendered.error && <p role="alert" className="text-sm text-red-600">{rendered.error}</p>}
          <div className="flex flex-wrap items-center gap-2">
            <button type="button" data-testid="run" onClick={runAll} disabled={anyRunning || !prompts.every((x) => x.trim()) || r.busy || schemaBlocks} className="rounded bg-brand-600 px-4 py-2 text-sm font-medium text-white disabled:opacity-50">
              Run {models.length} at once
            </button>
            {anyRunning && (
              <button type="button" data-testid="stop-all" onClick={() => r.stop()} className="rounded bg-slate-800 px-3 py-2 text-sm text-white">
                Stop all
              </button>
            )}
            <button
              type="button"
              data-testid="add-pane"
              disabled={models.length >= 6 || anyRunning}
              onClick={() => setModels((m) => [...m, BASE])}
              className="rounded border border-slate-300 px-3 py-2 text-sm disabled:opacity-40 dark:border-slate-700"
            >
              + Pane
            </button>
            <button
              type="button"
              data-testid="add-merged-pane"
              disabled={models.length >= 6 || anyRunning || mergeChoices.length < 2}
              title={mergeChoices.length < 2 ? "Merging needs two adapters this worker serves" : "A pane that runs a merge of adapters (LoRAX merged_adapters)"}
              onClick={() => setModels((m) => [...m, recipeLabel(defaultRecipe(mergeChoices.map((c) => c.id)))])}
              className="rounded border border-slate-300 px-3 py-2 text-sm disabled:opacity-40 dark:border-slate-700"
            >
              + Merged pane
            </button>
            <CopyLinkButton path="/compare" query={setupQuery({ models, mode: effectiveMode, inputs, prompt: raw, params }, true)} />
            {r.chatId && !anyRunning && <ShareButton chatId={r.chatId} />}
          </div>
          {r.error && (
            <p role="alert" data-testid="run-error" className="rounded bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-100">
              {r.error.message}
            </p>
          )}
        </div>
        {/* its own height, not the form's (a tall form stretched the panel's rows apart) */}
        <div className="min-w-0 self-start">
          <ParamsPanel value={params} defaults={defaultParams(primary)} onChange={setEditedParams} cardSchema={cardSchema} onSchemaProblem={setSchemaProblem} />
        </div>
      </div>
      <div className={`grid grid-cols-1 gap-3 ${GRID[models.length] ?? "md:grid-cols-3"}`} data-testid="compare-grid">
        {panes.map((pane, i) => (
          <div key={i} className="flex max-h-[28rem] min-w-0 flex-col md:h-[32rem] md:max-h-none [&>section]:md:flex-1">
            <OutputPane
              testId="compare-pane"
              hideLabel
              label={modelLabel(models[i] ?? BASE, adapters)}
              pane={pane}
              startedAt={r.startedAt[i] ?? null}
              showTokens={showTokens}
              // the pane's own task; the base model answers the template's (primary's) task
              outputKind={outputKindOf(adapters.find((a) => a.slug === models[i]) ?? (effectiveMode === "template" ? primary : null))}
              onStop={() => r.stop(i)}
              onRetry={() => void r.start(request(i), [i], [ids[i] ?? null])}
              bodyRef={(el) => {
                bodies.current[i] = el;
              }}
              onScroll={onScroll(i)}
              header={
                <>
                  {isRecipeLabel(models[i]) && parseRecipe(models[i]!) ? (
                    <MergeEditor
                      recipe={parseRecipe(models[i]!)!}
                      choices={mergeChoices}
                      disabled={anyRunning}
                      onChange={(recipe) => setModels((m) => m.map((x, j) => (j === i ? recipeLabel(recipe) : x)))}
                    />
                  ) : (
                    <ModelSelect wide testId={`pane-model-${i}`} value={models[i] ?? BASE} adapters={adapters} onChange={(s) => setModels((m) => m.map((x, j) => (j === i ? s : x)))} />
                  )}
                  {models.length > 2 && !anyRunning && (
                    <button type="button" aria-label="Remove pane" onClick={() => {
                        setModels((m) => m.filter((_, j) => j !== i));
                        r.remove(i);
                      }} className="rounded px-1 text-slate-500 hover:text-red-600">
                      ✕
                    </button>
                  )}
                </>
              }
            />
          </div>
        ))}
      </div>
      {showDiff && models.length === 2 && panes.every((p) => p.status === "done" || p.status === "stopped") && (
        <WordDiff a={panes[0]!.text} b={panes[1]!.text} names={[modelLabel(models[0] ?? BASE, adapters), modelLabel(models[1] ?? BASE, adapters)]} testId="compare-diff" />
      )}
      {r.subscriptions.map((s) => (
        <RunSubscription key={s.key} {...s.props} />
      ))}
    </div>
  );
}
