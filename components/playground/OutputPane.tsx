"use client";
/** One output with its status on the border, live stats, and stop / retry / copy. */
import { useEffect, useState } from "react";
import type { OutputKind } from "./output-format";
import { StreamView } from "./StreamView";
import { isRunning, liveTokensPerSecond, type PaneView } from "./run-state";

const BORDER: Record<PaneView["status"], string> = {
  idle: "border-zinc-200 dark:border-zinc-800",
  queued: "border-amber-400 border-dashed",
  streaming: "border-sky-500",
  done: "border-emerald-500",
  error: "border-red-500",
  stopped: "border-zinc-400",
  interrupted: "border-orange-500 border-dashed",
};

const fmt = (v: number | null | undefined, unit: string, digits = 0) => (v == null ? "–" : `${v.toFixed(digits)}${unit}`);

export function PaneStatsLine({ pane, startedAt }: { pane: PaneView; startedAt: number | null }) {
  const [now, setNow] = useState(() => Date.now());
  const running = isRunning(pane.status);
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [running]);
  const s = pane.stats;
  return (
    <dl className="flex flex-wrap gap-x-4 gap-y-1 text-xs text-zinc-600 dark:text-zinc-400" data-testid="pane-stats">
      <div><dt className="inline">TTFT </dt><dd className="inline font-mono" data-testid="stat-ttft">{fmt(s?.ttftMs, " ms")}</dd></div>
      <div><dt className="inline">tok/s </dt><dd className="inline font-mono" data-testid="stat-tps">{fmt(liveTokensPerSecond(pane, startedAt, now), "", 1)}</dd></div>
      <div><dt className="inline">tokens </dt><dd className="inline font-mono" data-testid="stat-tokens">{s?.tokensIn != null ? `${s.tokensIn} in / ` : ""}{pane.tokens.length || s?.tokensOut || 0} out</dd></div>
      {s?.queueMs != null && <div><dt className="inline">queue </dt><dd className="inline font-mono">{fmt(s.queueMs, " ms")}</dd></div>}
      {pane.finishReason && <div><dt className="inline">finish </dt><dd className="inline font-mono" data-testid="stat-finish">{pane.finishReason}</dd></div>}
    </dl>
  );
}

interface Props {
  label: string;
  pane: PaneView;
  startedAt: number | null;
  showTokens: boolean;
  onStop?: () => void;
  onRetry?: () => void;
  /** extra header controls (compare: adapter picker, remove) */
  header?: React.ReactNode;
  bodyRef?: React.Ref<HTMLDivElement>;
  onScroll?: React.UIEventHandler<HTMLDivElement>;
  testId?: string;
  /** the header's controls already name the model (compare's picker): the title is for screen readers */
  hideLabel?: boolean;
  /** what the task expects (output-format.ts outputKindOf): JSON and SQL answers are highlighted */
  outputKind?: OutputKind;
  /** false: no stats footer (the arena's blind panes get no timings) */
  showStats?: boolean;
}

export function OutputPane({ label, pane, startedAt, showTokens, onStop, onRetry, header, bodyRef, onScroll, testId = "output-pane", hideLabel = false, outputKind = "text", showStats = true }: Props) {
  const [copied, setCopied] = useState(false);
  const running = isRunning(pane.status);
  return (
    <section
      data-testid={testId}
      data-status={pane.status}
      aria-label={`${label}: ${pane.status}`}
      className={`relative flex min-h-0 min-w-0 flex-col rounded-lg border-2 bg-white dark:bg-zinc-950 ${BORDER[pane.status]}`}
    >
      <header className="flex flex-wrap items-center gap-2 border-b border-zinc-200 px-3 py-2 dark:border-zinc-800">
        <h3 className={hideLabel ? "sr-only" : "truncate text-sm font-semibold"} title={label}>{label}</h3>
        {/* compare: the picker gets a row of its own, so long names are not squeezed by the buttons */}
        {hideLabel && <div className="flex w-full min-w-0 items-center gap-1">{header}</div>}
        <span data-testid="pane-status" className="rounded bg-zinc-100 px-1.5 py-0.5 text-xs uppercase tracking-wide text-zinc-600 dark:bg-zinc-800 dark:text-zinc-300">
          {pane.status}
        </span>
        <div className="ml-auto flex min-w-0 max-w-full flex-wrap items-center justify-end gap-1">
          {!hideLabel && header}
          {running && onStop && (
            <button type="button" data-testid="stop" onClick={onStop} className="rounded bg-zinc-800 px-2 py-1 text-xs text-white dark:bg-zinc-200 dark:text-zinc-900">
              Stop
            </button>
          )}
          {!running && pane.status !== "idle" && onRetry && (
            <button type="button" data-testid="retry" onClick={onRetry} className="rounded border border-zinc-300 px-2 py-1 text-xs dark:border-zinc-700">
              {pane.status === "error" ? "Retry" : "Regenerate"}
            </button>
          )}
          <button
            type="button"
            data-testid="copy"
            disabled={!pane.text}
            onClick={() => {
              void navigator.clipboard?.writeText(pane.text).then(() => {
                setCopied(true);
                setTimeout(() => setCopied(false), 1200);
              });
            }}
            className="rounded border border-zinc-300 px-2 py-1 text-xs disabled:opacity-40 dark:border-zinc-700"
          >
            {copied ? "Copied" : "Copy"}
          </button>
        </div>
      </header>
      <div ref={bodyRef} onScroll={onScroll} className="min-h-24 flex-1 overflow-auto px-3 py-2">
        {pane.error && (
          <p role="alert" data-testid="pane-error" className="mb-2 rounded bg-red-50 px-2 py-1 text-sm text-red-700 dark:bg-red-950 dark:text-red-300">
            {pane.error}
          </p>
        )}
        {pane.status === "idle" ? (
          <p className="text-sm text-zinc-400">Output appears here.</p>
        ) : (
          <StreamView text={pane.text} tokens={pane.tokens} showTokens={showTokens} streaming={pane.status === "streaming"} final={!running} kind={outputKind} />
        )}
      </div>
      {showStats && (
        <footer className="border-t border-zinc-200 px-3 py-1.5 dark:border-zinc-800">
          <PaneStatsLine pane={pane} startedAt={startedAt} />
        </footer>
      )}
    </section>
  );
}
