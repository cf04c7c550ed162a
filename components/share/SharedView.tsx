"use client";
/** A shared snapshot, read-only, with "run again" (live, same parameters) and "continue as a copy". */
import { useMutation } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import type { ShareSnapshot } from "../../db/schema/chats";
import { useTRPC } from "@/trpc/react";
import { useHydrated } from "@/components/hydrated";
import { OutputPane } from "../playground/OutputPane";
import { emptyPane, type PaneView } from "../playground/run-state";
import { BASE, setupQuery } from "../playground/url-state";
import { paramsText } from "../history/errors";
import { useOutputKinds } from "../history/output-kinds";
import { VersionNav } from "../history/versions";

/** The snapshot's setup as a page link; adapter ids of the demo worker are also its catalog slugs. */
export function snapshotHref(s: ShareSnapshot, autorun: boolean): string {
  const models = s.settings.adapters.map((a) => a ?? BASE);
  const compare = models.length > 1;
  const last = s.turns.at(-1);
  const query = setupQuery(
    {
      models,
      mode: s.settings.mode === "chat" ? "raw" : s.settings.mode,
      inputs: last?.inputs ?? s.settings.inputs,
      prompt: last?.prompt,
      params: s.settings.params,
      autorun,
    },
    compare,
  );
  return `${compare ? "/compare" : "/playground"}?${query}`;
}

export function storedPane(p: ShareSnapshot["turns"][number]["panes"][number]): PaneView {
  return {
    ...emptyPane(p.adapterId),
    status: p.status,
    text: p.output,
    error: p.error,
    finishReason: p.finishReason,
    stats: { ...p.stats, tokensOut: p.stats.tokensOut ?? 0 },
  };
}

export function SharedView({ slug, title, snapshot, createdAt, mine }: { slug: string; title: string; snapshot: ShareSnapshot; createdAt: Date; mine: boolean }) {
  const trpc = useTRPC();
  const kindOf = useOutputKinds();
  const [revoked, setRevoked] = useState(false);
  // the visitor's local time once hydrated (the server's time zone is not theirs)
  const hydrated = useHydrated();
  const revoke = useMutation(trpc.shares.revoke.mutationOptions({ onSuccess: () => setRevoked(true) }));
  const cols = Math.min(3, snapshot.settings.adapters.length);
  const groups = groupTurns(snapshot.turns);
  return (
    <article className="flex flex-col gap-4" data-testid="shared-view">
      <header className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold">{title}</h1>
        <span className="rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-600 dark:bg-slate-800 dark:text-slate-300">read-only snapshot · {hydrated ? new Date(createdAt).toLocaleString("en") : `${new Date(createdAt).toISOString().slice(0, 16).replace("T", " ")} UTC`}</span>
        <div className="flex flex-wrap gap-2 sm:ml-auto">
          <Link data-testid="run-again" href={snapshotHref(snapshot, true)} className="rounded bg-brand-600 px-3 py-1.5 text-sm text-white">Run again</Link>
          <Link data-testid="continue-copy" href={snapshotHref(snapshot, false)} className="rounded border border-slate-300 px-3 py-1.5 text-sm dark:border-slate-700">Continue as a copy</Link>
          {mine && !revoked && (
            <button type="button" data-testid="share-revoke" onClick={() => revoke.mutate({ slug })} className="rounded px-3 py-1.5 text-sm text-red-700 hover:bg-red-50 dark:text-red-300 dark:hover:bg-red-950">
              Revoke link
            </button>
          )}
          {revoked && <span className="text-sm text-red-700" data-testid="share-revoked">Revoked: this link now answers 404.</span>}
        </div>
      </header>
      <p className="text-sm text-slate-600 dark:text-slate-400">
        Parameters: <code className="text-xs break-all">{paramsText(snapshot.settings.params)}</code>
      </p>
      {groups.map((group, i) => (
        <SharedTurn key={i} group={group} label={groups.length > 1 ? ` (turn ${i + 1})` : ""} open={groups.length === 1 || i === groups.length - 1} cols={cols} kindOf={kindOf} />
      ))}
    </article>
  );
}

type Turn = ShareSnapshot["turns"][number];

/** Consecutive turns with the same prompt and inputs: reruns, shown as versions of one answer (as history shows them). */
function groupTurns(turns: Turn[]): Turn[][] {
  const groups: Turn[][] = [];
  const same = (a: Turn, b: Turn) => a.prompt === b.prompt && JSON.stringify(a.inputs ?? null) === JSON.stringify(b.inputs ?? null);
  for (const t of turns) {
    const last = groups.at(-1);
    if (last && same(last[0]!, t)) last.push(t);
    else groups.push([t]);
  }
  return groups;
}

function SharedTurn({ group, label, open, cols, kindOf }: { group: Turn[]; label: string; open: boolean; cols: number; kindOf: ReturnType<typeof useOutputKinds> }) {
  // the newest version first, as history and the playground show it
  const [version, setVersion] = useState(group.length - 1);
  const t = group[version]!;
  return (
    <section className="flex flex-col gap-2" data-testid="shared-turn">
      <details open={open} className="rounded border border-slate-200 dark:border-slate-800">
        <summary className="cursor-pointer px-2 py-1 text-xs text-slate-600 dark:text-slate-400">Prompt{label}</summary>
        <pre data-testid="shared-prompt" className="max-h-60 overflow-auto whitespace-pre-wrap px-2 py-1 font-mono text-xs">{t.prompt}</pre>
      </details>
      <VersionNav index={version} count={group.length} onChange={setVersion} />
      <div className={`grid grid-cols-1 gap-3 ${cols === 3 ? "md:grid-cols-3" : cols === 2 ? "md:grid-cols-2" : ""}`}>
        {t.panes.map((p, j) => (
          <OutputPane key={j} testId="shared-pane" label={p.adapterId ?? "Base model"} pane={storedPane(p)} startedAt={null} showTokens={false} outputKind={kindOf(p.adapterId)} />
        ))}
      </div>
    </section>
  );
}
