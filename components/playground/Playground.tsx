"use client";
/**
 * /playground: pick an adapter (or the base model), fill its template (or write a raw prompt, or
 * chat), tune parameters, and watch the answer stream in place.
 */
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { startTransition, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import type { GenerationParams, PromptMode } from "../../db/schema/chats";
import { useTRPC, type RouterOutputs } from "@/trpc/react";
import { ApiSnippets } from "./ApiSnippets";
import { AutorunConfirm } from "./AutorunConfirm";
import { OutputPane } from "./OutputPane";
import { outputKindOf } from "./output-format";
import { schemaFromCard } from "./structured-output";
import { DEFAULT_PARAMS, ParamsPanel } from "./ParamsPanel";
import { missingFields, renderOrError, TemplateForm } from "./TemplateForm";
import { RunSubscription, useRuns } from "./use-run";
import { isRunning } from "./run-state";
import type { LocalCounter } from "./local-tokenizer";
import { BASE, setupQuery, type PageSetup } from "./url-state";
import { ShareButton } from "../share/ShareDialog";
import { HistoryDrawer, HistorySidebar } from "../history/HistorySidebar";
import { usePaneVersions, VersionNav } from "../history/versions";
import { FeedbackButtons } from "../presets/FeedbackButtons";
import { PresetPicker, type Preset } from "../presets/PresetPicker";

export type CatalogAdapter = RouterOutputs["catalog"]["list"]["adapters"][number];

/** Per-adapter defaults: greedy, and a length that fits its metric (as the demo's scoring does). */
export function defaultParams(a: CatalogAdapter | null): GenerationParams {
  const metric = a?.metricName ?? "";
  const max = /accuracy/.test(metric) ? 8 : /json/.test(metric) ? 96 : 64;
  return { ...DEFAULT_PARAMS, max_new_tokens: max };
}

export function modelLabel(slug: string, adapters: CatalogAdapter[]): string {
  if (slug === BASE) return "Base model";
  return adapters.find((a) => a.slug === slug)?.displayName ?? slug;
}

export function workerAdapterId(slug: string, adapters: CatalogAdapter[]): string | null {
  if (slug === BASE) return null;
  return adapters.find((a) => a.slug === slug)?.adapterId ?? slug;
}

export function ModelSelect(props: { value: string; adapters: CatalogAdapter[]; onChange: (slug: string) => void; testId?: string; label?: string; wide?: boolean }) {
  const runnable = props.adapters.filter((a) => a.run.runnable);
  const other = props.adapters.filter((a) => !a.run.runnable);
  return (
    <label className={`flex min-w-0 flex-col gap-1 text-xs ${props.wide ? "flex-1" : ""}`}>
      {props.label && <span className="font-medium text-slate-600 dark:text-slate-400">{props.label}</span>}
      <select
        data-testid={props.testId ?? "model-select"}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
        // a narrow pane cuts the name short: the whole one on hover
        title={props.value === BASE ? "Base model (no adapter)" : modelLabel(props.value, props.adapters)}
        className={`min-w-0 rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900 ${props.label ? "" : props.wide ? "w-full min-w-0 flex-1" : "w-40 max-w-full"}`}
      >
        <option value={BASE}>Base model (no adapter)</option>
        <optgroup label="Runnable on this worker">
          {runnable.map((a) => (
            <option key={a.slug} value={a.slug}>
              {a.displayName}
            </option>
          ))}
        </optgroup>
        {other.length > 0 && (
          <optgroup label="Not runnable here">
            {other.map((a) => (
              <option key={a.slug} value={a.slug} disabled>
                {a.displayName} — {a.run.reason}
              </option>
            ))}
          </optgroup>
        )}
      </select>
    </label>
  );
}

/** The value once it has stopped changing for `ms` (the token counter asks the worker once per pause, not per key). */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return settled;
}

/**
 * False on the server and during hydration, true after: pages whose first render depends on
 * catalog data render a placeholder until then, so the server HTML and the client's first render
 * always match (the prefetched data may or may not have reached the client by hydration: #418).
 */
export function useMounted(): boolean {
  return useSyncExternalStore(
    () => () => {},
    () => true,
    () => false,
  );
}

export function PanesPlaceholder({ title }: { title: string }) {
  return (
    <div className="flex flex-col gap-4" data-testid="page-loading">
      <h1 className="text-xl font-semibold">{title}</h1>
      <p className="text-sm text-slate-500">Loading the catalog…</p>
    </div>
  );
}

/** longer prompts are counted by the worker (off its event loop): ~0.4 s for 96k characters here would freeze the page */
export const LOCAL_COUNT_MAX_CHARS = 16_000;

/**
 * The prompt's token count: counted in the browser with the base model's tokenizer when the server
 * hands it out (local-tokenizer.ts, loaded lazily after the first render), else asked of the worker
 * (tRPC generate.tokenCount → POST /tokenize) once per pause in typing. null while unknown.
 */
export function usePromptTokens(prompt: string) {
  const trpc = useTRPC();
  // undefined: still loading; null: none, the worker counts
  const [counter, setCounter] = useState<LocalCounter | null | undefined>(undefined);
  useEffect(() => {
    let live = true;
    void import("./local-tokenizer").then((m) => m.loadLocalCounter()).then(
      (c) => live && setCounter(c),
      () => live && setCounter(null),
    );
    return () => {
      live = false;
    };
  }, []);
  const deferred = useDebounced(prompt, counter ? 100 : 300);
  const local = useMemo(() => {
    try {
      return counter && deferred && deferred.length <= LOCAL_COUNT_MAX_CHARS ? counter.count(deferred) : null;
    } catch {
      return null; // the worker counts this one
    }
  }, [counter, deferred]);
  const askWorker = counter === null || (counter !== undefined && local === null);
  const { data } = useQuery({ ...trpc.generate.tokenCount.queryOptions({ text: deferred }), enabled: deferred.length > 0 && askWorker, placeholderData: (prev) => prev });
  return deferred.length === 0 ? 0 : (local ?? data?.tokens ?? null);
}

export function Playground({ setup }: { setup: PageSetup }) {
  const trpc = useTRPC();
  const mounted = useMounted();
  const catalog = useQuery(trpc.catalog.list.queryOptions());
  const worker = useQuery(trpc.status.worker.queryOptions());
  const adapters = useMemo(() => (catalog.data?.adapters ?? []).filter((a) => a.collection !== "lora-land" || a.run.runnable), [catalog.data]);
  // the model: the user's pick, else the link's, else the first runnable adapter once the catalog is in
  const [picked, setPicked] = useState<string | null>(null);
  const slug = picked ?? setup.models[0] ?? adapters.find((a) => a.run.runnable)?.slug ?? BASE;
  const adapter = adapters.find((a) => a.slug === slug) ?? null;
  const template = adapter?.promptTemplate ?? null;
  const [mode, setMode] = useState<PromptMode>(setup.mode ?? (setup.prompt ? "raw" : "template"));
  // the worker's /info says whether the base model has a chat template (null: it does not say)
  const chatAvailable = worker.data?.info?.chat_template !== false;
  const effectiveMode: PromptMode = (mode === "template" && !template) || (mode === "chat" && !chatAvailable) ? "raw" : mode;
  // inputs and parameters: edited ones, else the link's, else the adapter's first sample and defaults
  const [edited, setEdited] = useState<Record<string, string> | null>(null);
  const fromLink = picked === null && Object.keys(setup.inputs).length > 0;
  const inputs = edited ?? (fromLink ? setup.inputs : { ...(adapter?.sampleInputs[0] ?? {}) });
  const [editedParams, setEditedParams] = useState<GenerationParams | null>(null);
  const params = editedParams ?? { ...defaultParams(adapter), ...(picked === null ? setup.params : {}) };
  const [raw, setRaw] = useState(setup.prompt ?? "");
  // structured output: the card's schema is offered; a typed schema the worker would refuse holds the run
  const cardSchema = schemaFromCard(adapter);
  const [schemaProblem, setSchemaProblem] = useState<string | null>(null);
  const schemaBlocks = schemaProblem !== null && !!params.response_format;
  const [showTokens, setShowTokens] = useState(false);
  const [transcript, setTranscript] = useState<{ role: "user" | "assistant"; content: string }[]>([]);
  // chat mode: a system prompt, sent when the chat starts (the server keeps it for the later turns)
  const [system, setSystem] = useState("");
  const r = useRuns({
    // chat: the answer joins the transcript once it ends
    onEnd: (_grid, end) => {
      if (effectiveMode === "chat" && end.output) setTranscript((t) => [...t, { role: "assistant", content: end.output }]);
    },
  });
  const adapterId = workerAdapterId(slug, adapters);
  const pane = r.paneAt(0, adapterId);
  const pick = (s: string) => {
    setPicked(s);
    setEdited(null);
    setEditedParams(null);
  };
  // a saved preset replaces the whole form: model, mode, inputs, raw prompt, parameters
  const loadPreset = (p: Preset) => {
    setPicked(p.adapter ?? BASE);
    setMode(p.mode);
    setEdited(p.mode === "template" ? p.inputs : null);
    setEditedParams(p.params);
    setRaw(p.prompt);
    setTranscript([]);
  };

  const rendered = effectiveMode === "template" && template ? renderOrError(template, inputs) : { prompt: raw, error: null };
  const prompt = rendered.prompt;
  const missing = effectiveMode === "template" && template ? missingFields(template, inputs) : [];
  const tokenCount = usePromptTokens(effectiveMode === "chat" ? "" : prompt);
  const running = isRunning(pane.status);
  // reruns of the same prompt keep the earlier answers as versions (‹ 1/3 ›) and join the same chat
  const versions = usePaneVersions(pane);
  const shownPane = versions.shown;

  // on a phone the output is below the form: bring it into view when a run starts
  const outputRef = useRef<HTMLDivElement>(null);
  const run = async () => {
    if (!prompt.trim() || running || r.busy || schemaBlocks || missing.length > 0) return;
    const below = outputRef.current && outputRef.current.getBoundingClientRect().top > window.innerHeight * 0.6;
    if (below) outputRef.current!.scrollIntoView({ behavior: "smooth", block: "start" });
    // a transition like the start's own updates (use-run.ts): no render before the request leaves
    let rerun = false;
    startTransition(() => {
      rerun = effectiveMode !== "chat" && versions.beforeRun(JSON.stringify([adapterId, effectiveMode, prompt, params]));
    });
    const res = await r.start(
      {
        mode: effectiveMode,
        prompt,
        inputs: effectiveMode === "template" ? inputs : undefined,
        params,
        alternatives: 3,
        system: effectiveMode === "chat" && transcript.length === 0 && system.trim() ? system : undefined,
      },
      [0],
      [adapterId],
      { continueChat: (effectiveMode === "chat" && transcript.length > 0) || rerun },
    );
    if (res && effectiveMode === "chat") {
      setTranscript((t) => [...t, { role: "user", content: prompt }]);
      setRaw("");
    }
  };

  // autorun=1 (share "run again", copied links): asks first, runs on a click
  const [autorunAsked, setAutorunAsked] = useState(setup.autorun);

  const linkQuery = setupQuery({ models: [slug], mode: effectiveMode, inputs, prompt: raw, params }, false);
  const workerUrl = worker.data?.url ?? "http://127.0.0.1:8081";

  if (!mounted || catalog.isPending) return <PanesPlaceholder title="Playground" />;
  return (
    <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_minmax(0,1.2fr)_14rem]">
      <div
        className="flex min-w-0 flex-col gap-4"
        // Ctrl/Cmd+Enter from any field of the form (template fields, raw prompt, chat) runs
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.metaKey || e.ctrlKey) && !e.nativeEvent.isComposing) {
            e.preventDefault();
            void run();
          }
        }}
      >
        <div className="flex items-center justify-between gap-2">
          <h1 className="text-xl font-semibold">Playground</h1>
          <HistoryDrawer activeId={r.chatId} />
        </div>
        {autorunAsked && catalog.data && prompt && (
          <AutorunConfirm
            models={1}
            onRun={() => {
              setAutorunAsked(false);
              void run();
            }}
            onDismiss={() => setAutorunAsked(false)}
          />
        )}
        <PresetPicker current={{ adapter: slug === BASE ? null : slug, mode: effectiveMode, inputs: effectiveMode === "template" ? inputs : {}, prompt: raw, params }} onLoad={loadPreset} />
        <ModelSelect value={slug} adapters={adapters} onChange={pick} label="Model" />
        {adapter && <p className="text-xs text-slate-500">{adapter.description} <Link className="underline" href={`/adapters/${adapter.slug}`}>About</Link></p>}
        <div role="tablist" className="flex gap-1 text-sm" aria-label="Prompt mode">
          {(["template", "raw", "chat"] as const).map((m) => (
            <button
              key={m}
              role="tab"
              type="button"
              data-testid={`mode-${m}`}
              aria-selected={effectiveMode === m}
              disabled={(m === "template" && !template) || (m === "chat" && !chatAvailable)}
              title={m === "chat" && !chatAvailable ? "This model has no chat template" : undefined}
              onClick={() => setMode(m)}
              className={`rounded px-3 py-1 disabled:opacity-40 ${effectiveMode === m ? "bg-slate-900 text-white dark:bg-slate-100 dark:text-slate-900" : "border border-slate-300 dark:border-slate-700"}`}
            >
              {m === "template" ? "Template" : m === "raw" ? "Raw prompt" : "Chat"}
            </button>
          ))}
        </div>
        {effectiveMode === "template" && template ? (
          <TemplateForm template={template} inputs={inputs} onChange={setEdited} samples={adapter?.sampleInputs ?? []} tokenCount={tokenCount} />
        ) : (
          <div className="flex flex-col gap-2">
            {effectiveMode === "chat" && (
              <>
                <p className="text-xs text-slate-500">Chat uses the model&apos;s chat template (the worker answers with an error when the model has none).</p>
                <label className="flex flex-col gap-1 text-xs">
                  <span className="font-medium">System prompt{transcript.length > 0 ? " (set for this chat)" : " (optional)"}</span>
                  <textarea
                    data-testid="system-prompt"
                    rows={2}
                    value={system}
                    readOnly={transcript.length > 0}
                    onChange={(e) => setSystem(e.target.value)}
                    placeholder="How the assistant should answer, e.g. “Answer in one word.”"
                    className="rounded border border-slate-300 bg-white px-2 py-1 text-sm read-only:opacity-60 dark:border-slate-700 dark:bg-slate-900"
                  />
                </label>
                <ol className="flex flex-col gap-2" data-testid="chat-transcript">
                  {transcript.map((m, i) => (
                    <li key={i} className={`rounded px-2 py-1 text-sm ${m.role === "user" ? "self-end bg-brand-50 dark:bg-slate-800" : "bg-slate-100 dark:bg-slate-900"}`}>
                      <span className="sr-only">{m.role}: </span>
                      {m.content}
                    </li>
                  ))}
                </ol>
              </>
            )}
            <textarea
              data-testid="raw-prompt"
              aria-label={effectiveMode === "chat" ? "Message" : "Prompt"}
              rows={effectiveMode === "chat" ? 3 : 8}
              value={raw}
              onChange={(e) => setRaw(e.target.value)}
              placeholder={effectiveMode === "chat" ? "Your message" : "Any text; the model continues it"}
              className="rounded border border-slate-300 bg-white px-2 py-1 font-mono text-sm dark:border-slate-700 dark:bg-slate-900"
            />
            {effectiveMode === "raw" && <p className="text-xs text-slate-500" data-testid="prompt-token-count">{tokenCount === null ? "…" : `${tokenCount} tokens`}</p>}
          </div>
        )}
        {rendered.error && <p role="alert" className="text-sm text-red-600">{rendered.error}</p>}
        {missing.length > 0 && <p className="text-xs text-slate-500" data-testid="missing-fields">Fill in {missing.map((c) => `{${c}}`).join(", ")} to run.</p>}
        <div className="flex flex-wrap gap-2">
          <button
            type="button"
            data-testid="run"
            onClick={() => void run()}
            disabled={running || !prompt.trim() || r.busy || schemaBlocks || missing.length > 0}
            title={schemaBlocks ? "Fix the JSON schema first" : missing.length > 0 ? `Fill in ${missing.join(", ")} first` : undefined}
            className="rounded bg-brand-600 px-4 py-2 text-sm font-medium text-white disabled:opacity-50"
          >
            {effectiveMode === "chat" ? "Send" : "Run"} <kbd className="ml-1 text-xs opacity-70">Ctrl+Enter</kbd>
          </button>
          <Link href={`/compare?${setupQuery({ models: [slug, BASE], mode: effectiveMode, inputs, prompt: raw, params }, true)}`} className="rounded border border-slate-300 px-3 py-2 text-sm dark:border-slate-700">
            Compare with base
          </Link>
          <CopyLinkButton query={linkQuery} path="/playground" />
        </div>
        {r.error && (
          <p role="alert" data-testid="run-error" className={`rounded px-3 py-2 text-sm ${r.error.code === "TOO_MANY_REQUESTS" ? "bg-amber-50 text-amber-900 dark:bg-amber-950 dark:text-amber-100" : "bg-red-50 text-red-800 dark:bg-red-950 dark:text-red-200"}`}>
            {r.error.message}
          </p>
        )}
        <ParamsPanel value={params} defaults={defaultParams(adapter)} onChange={setEditedParams} cardSchema={cardSchema} onSchemaProblem={setSchemaProblem} />
      </div>
      <div ref={outputRef} className="flex min-w-0 scroll-mt-20 flex-col gap-3">
        <div className="flex flex-wrap items-center gap-3 text-sm">
          <label className="flex items-center gap-2">
            <input type="checkbox" data-testid="toggle-tokens" checked={showTokens} onChange={(e) => setShowTokens(e.target.checked)} />
            Tokens &amp; logprobs
          </label>
          {r.chatId && !running && <ShareButton chatId={r.chatId} />}
        </div>
        <OutputPane
          label={modelLabel(slug, adapters)}
          pane={shownPane}
          startedAt={shownPane === pane ? (r.startedAt[0] ?? null) : null}
          showTokens={showTokens}
          // structured output's answer is JSON whatever the task
          outputKind={params.response_format ? "json" : outputKindOf(adapter)}
          header={
            <>
              <VersionNav index={versions.index} count={versions.count} onChange={versions.setViewing} />
              {shownPane.generationId && !running && shownPane.status !== "idle" ? <FeedbackButtons key={shownPane.generationId} generationId={shownPane.generationId} rating={null} /> : null}
            </>
          }
          onStop={() => r.stop(0)}
          onRetry={() =>
            effectiveMode === "chat"
              ? void r.start({ mode: "raw", prompt: transcript.filter((m) => m.role === "user").at(-1)?.content ?? prompt, inputs, params, alternatives: 3 }, [0], [adapterId])
              : void run()
          }
        />
        {r.subscriptions.map((s) => (
          <RunSubscription key={s.key} {...s.props} />
        ))}
        <ApiSnippets workerUrl={workerUrl} adapterId={adapterId} baseModelId={worker.data?.modelId ?? ""} prompt={prompt} params={params} />
      </div>
      <aside className="hidden min-w-0 lg:block">
        <HistorySidebar activeId={r.chatId} />
      </aside>
    </div>
  );
}

export function CopyLinkButton({ query, path }: { query: string; path: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      data-testid="copy-link"
      data-href={`${path}?${query}`}
      onClick={() => {
        const url = `${window.location.origin}${path}?${query}`;
        void navigator.clipboard?.writeText(url).catch(() => {});
        window.history.replaceState(null, "", `${path}?${query}`);
        setCopied(true);
        setTimeout(() => setCopied(false), 1500);
      }}
      className="rounded border border-slate-300 px-3 py-2 text-sm dark:border-slate-700"
    >
      {copied ? "Link copied" : "Copy link"}
    </button>
  );
}
