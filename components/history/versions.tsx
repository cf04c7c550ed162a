"use client";
/**
 * Regenerate keeps versions: reruns of the same prompt (same model, prompt and parameters) are
 * grouped, and ‹ 1/3 › pages through their answers. Used by the playground's pane (live versions)
 * and by a history chat (its identical consecutive turns).
 */
import { useState } from "react";
import type { PaneView } from "../playground/run-state";

export function VersionNav({ index, count, onChange }: { index: number; count: number; onChange: (i: number) => void }) {
  if (count < 2) return null;
  const btn = "rounded px-1.5 text-sm leading-none hover:bg-zinc-100 disabled:opacity-30 dark:hover:bg-zinc-800";
  return (
    <span className="inline-flex items-center gap-0.5 text-xs text-zinc-600 dark:text-zinc-400" data-testid="versions" role="group" aria-label="Versions">
      <button type="button" className={btn} data-testid="version-prev" aria-label="Previous version" disabled={index === 0} onClick={() => onChange(index - 1)}>
        ‹
      </button>
      <span data-testid="version-count" aria-live="polite">
        {index + 1}/{count}
      </span>
      <button type="button" className={btn} data-testid="version-next" aria-label="Next version" disabled={index === count - 1} onClick={() => onChange(index + 1)}>
        ›
      </button>
    </span>
  );
}

/**
 * The playground pane's versions. `beforeRun(key, live)` before each run: the same key as the
 * answers kept (a rerun) keeps the finished live pane as a version and says so (the run then
 * continues the same chat, so history groups it); another key starts over.
 */
export function usePaneVersions(live: PaneView) {
  const [kept, setKept] = useState<{ key: string | null; panes: PaneView[] }>({ key: null, panes: [] });
  const [viewing, setViewing] = useState<number | null>(null);
  const count = kept.panes.length + (live.status === "idle" ? 0 : 1);
  const index = viewing ?? count - 1;
  const shown = viewing !== null && viewing < kept.panes.length ? kept.panes[viewing]! : live;
  const beforeRun = (key: string): boolean => {
    setViewing(null);
    const rerun = kept.key === key && live.status !== "idle" && live.status !== "queued" && live.status !== "streaming";
    setKept(rerun ? { key, panes: [...kept.panes, live] } : { key, panes: [] });
    return rerun;
  };
  return { shown, index, count, setViewing: (i: number) => setViewing(i >= kept.panes.length ? null : i), beforeRun };
}
