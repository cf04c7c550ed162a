"use client";
/**
 * /arena: a blind A/B battle. The server picks two models of the chosen task (its adapters and the
 * base model) and which pane each gets; the page only sees "A" and "B" until the vote, which is
 * one per battle and answers with the names. The task's leaderboard sits beside it.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useCallback, useState } from "react";
import type { RunChunk } from "../../server/inference/stream-hub";
import { useTRPC, type RouterOutputs } from "@/trpc/react";
import { OutputPane } from "../playground/OutputPane";
import { outputKindOf } from "../playground/output-format";
import { PanesPlaceholder, useMounted, usePromptTokens } from "../playground/Playground";
import { renderOrError, TemplateForm } from "../playground/TemplateForm";
import { applyChunk, emptyPane, isRunning, queuedPane, type PaneView } from "../playground/run-state";
import { Leaderboard } from "./Leaderboard";
import { WordDiff } from "./WordDiff";

type Vote = "a" | "b" | "tie" | "both_bad";
type Revealed = RouterOutputs["arena"]["vote"];

const VOTES: { vote: Vote; label: string }[] = [
  { vote: "a", label: "A is better" },
  { vote: "b", label: "B is better" },
  { vote: "tie", label: "Tie" },
  { vote: "both_bad", label: "Both are bad" },
];

const VOTED: Record<Vote, string> = { a: "A is better", b: "B is better", tie: "a tie", both_bad: "both bad" };

/** Follows one battle's blind stream until both panes end. */
function BattleStream({ battleId, onChunk, onError }: { battleId: string; onChunk: (c: RunChunk) => void; onError: (message: string) => void }) {
  const trpc = useTRPC();
  useSubscription(
    trpc.arena.stream.subscriptionOptions(
      { battleId },
      {
        onData: (e) => onChunk((e as { data: RunChunk }).data),
        onError: (e) => onError(e.message),
      },
    ),
  );
  return null;
}

export function Arena({ initialTask }: { initialTask: string | null }) {
  const trpc = useTRPC();
  const mounted = useMounted();
  const queryClient = useQueryClient();
  const tasks = useQuery(trpc.arena.tasks.queryOptions());
  const [picked, setPicked] = useState<string | null>(initialTask);
  const list = tasks.data ?? [];
  const task = list.find((t) => t.key === picked) ?? list[0] ?? null;
  const [edited, setEdited] = useState<Record<string, string> | null>(null);
  const inputs = edited ?? { ...(task?.sampleInputs[0] ?? {}) };
  const { prompt, error: templateError } = task ? renderOrError(task.template, inputs) : { prompt: "", error: null };
  const tokenCount = usePromptTokens(prompt);

  const [battle, setBattle] = useState<{ id: string; task: string } | null>(null);
  const [panes, setPanes] = useState<PaneView[]>([emptyPane(null), emptyPane(null)]);
  const [revealed, setRevealed] = useState<Revealed | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [showDiff, setShowDiff] = useState(false);
  const start = useMutation(trpc.arena.start.mutationOptions());
  const vote = useMutation(trpc.arena.vote.mutationOptions());

  const pickTask = (key: string) => {
    setPicked(key);
    setEdited(null);
    window.history.replaceState(null, "", `/arena?task=${encodeURIComponent(key)}`);
  };

  const newBattle = async () => {
    if (!task || start.isPending) return;
    setError(null);
    setBattle(null);
    setRevealed(null);
    setShowDiff(false);
    setPanes([queuedPane(null), queuedPane(null)]);
    try {
      const res = await start.mutateAsync({ task: task.key, inputs });
      setBattle({ id: res.battleId, task: res.task });
    } catch (e) {
      setBattle(null);
      setPanes([emptyPane(null), emptyPane(null)]);
      setError((e as Error).message);
    }
  };

  const onChunk = useCallback((chunk: RunChunk) => setPanes((ps) => applyChunk(ps, chunk)), []);
  const onStreamError = useCallback((message: string) => {
    setError(message);
    setPanes((ps) => ps.map((p) => (isRunning(p.status) ? { ...p, status: "error", error: message } : p)));
  }, []);

  const cast = async (v: Vote) => {
    if (!battle || revealed || vote.isPending) return;
    setError(null);
    try {
      setRevealed(await vote.mutateAsync({ battleId: battle.id, vote: v }));
      void queryClient.invalidateQueries(trpc.arena.leaderboard.queryFilter({ task: battle.task }));
    } catch (e) {
      setError((e as Error).message);
    }
  };

  if (!mounted || tasks.isPending) return <PanesPlaceholder title="Arena" />;
  if (!task) {
    return (
      <div className="flex flex-col gap-3">
        <h1 className="text-xl font-semibold">Arena</h1>
        <p className="text-sm text-slate-600 dark:text-slate-300" data-testid="arena-empty">
          No task can battle right now: the worker runs none of the catalog&apos;s adapters (or is offline). See the status page.
        </p>
      </div>
    );
  }

  // both answers ended: voting opens and the subscription closes
  const finished = battle !== null && panes.every((p) => p.status !== "idle" && !isRunning(p.status));
  const streaming = battle !== null && !finished;
  const kind = outputKindOf(task);
  const label = (side: "a" | "b") => (revealed ? `${side.toUpperCase()} · ${revealed[side].label}` : `Model ${side.toUpperCase()}`);
  return (
    <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_20rem]">
      <div className="flex min-w-0 flex-col gap-4">
        <div className="flex flex-col gap-1">
          <h1 className="text-xl font-semibold">Arena</h1>
          <p className="text-sm text-slate-600 dark:text-slate-300">
            Two anonymous models answer the same input: this task&apos;s adapters and the base model, picked by the server. Vote for the better answer; the names show after your vote.
          </p>
        </div>
        <label className="flex flex-col gap-1 text-xs sm:max-w-md">
          <span className="font-medium text-slate-600 dark:text-slate-400">Task</span>
          <select
            data-testid="arena-task"
            value={task.key}
            disabled={streaming}
            onChange={(e) => pickTask(e.target.value)}
            className="rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
          >
            {list.map((t) => (
              <option key={t.key} value={t.key}>
                {t.name} ({t.contestants.length} models)
              </option>
            ))}
          </select>
        </label>
        <div
          onKeyDown={(e) => {
            if (e.key === "Enter" && (e.metaKey || e.ctrlKey) && !e.nativeEvent.isComposing) {
              e.preventDefault();
              void newBattle();
            }
          }}
        >
          <TemplateForm template={task.template} inputs={inputs} onChange={setEdited} samples={task.sampleInputs} tokenCount={tokenCount} />
        </div>
        {templateError && <p role="alert" className="text-sm text-red-600">{templateError}</p>}
        <div className="flex flex-wrap items-center gap-2">
          <button
            type="button"
            data-testid="arena-start"
            onClick={() => void newBattle()}
            disabled={start.isPending || streaming || !prompt.trim()}
            className="rounded bg-brand-600 px-4 py-2 text-sm font-medium text-white disabled:opacity-50"
          >
            {battle ? "New battle" : "Start battle"} <kbd className="ml-1 text-xs opacity-70">Ctrl+Enter</kbd>
          </button>
          {finished && (
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" data-testid="arena-diff-toggle" checked={showDiff} onChange={(e) => setShowDiff(e.target.checked)} /> Word diff
            </label>
          )}
        </div>
        {error && (
          <p role="alert" data-testid="arena-error" className="rounded bg-red-50 px-3 py-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
            {error}
          </p>
        )}
        <div className="grid grid-cols-1 gap-3 md:grid-cols-2" data-testid="arena-panes">
          {panes.map((pane, i) => (
            <OutputPane key={i} testId="arena-pane" label={label(i === 0 ? "a" : "b")} pane={pane} startedAt={null} showTokens={false} outputKind={kind} showStats={false} />
          ))}
        </div>
        {battle && (
          <div className="flex flex-col gap-2" role="group" aria-label="Your vote">
            <div className="flex flex-wrap gap-2">
              {VOTES.map((v) => (
                <button
                  key={v.vote}
                  type="button"
                  data-testid={`vote-${v.vote}`}
                  disabled={!finished || revealed !== null || vote.isPending}
                  aria-pressed={revealed?.vote === v.vote}
                  onClick={() => void cast(v.vote)}
                  className={`rounded border px-3 py-2 text-sm disabled:opacity-50 ${revealed?.vote === v.vote ? "border-brand-600 bg-brand-50 font-medium text-brand-700 dark:bg-slate-800 dark:text-brand-100" : "border-slate-300 dark:border-slate-700"}`}
                >
                  {v.label}
                </button>
              ))}
            </div>
            {!finished && !revealed && <p className="text-xs text-slate-500">Voting opens when both answers are finished.</p>}
            {revealed && (
              <p data-testid="arena-reveal" className="rounded bg-slate-50 px-3 py-2 text-sm dark:bg-slate-900">
                A was <strong data-testid="reveal-a">{revealed.a.label}</strong>, B was <strong data-testid="reveal-b">{revealed.b.label}</strong>. You voted {VOTED[revealed.vote]}.
              </p>
            )}
          </div>
        )}
        {finished && showDiff && <WordDiff a={panes[0]!.text} b={panes[1]!.text} />}
        {battle && streaming && <BattleStream key={battle.id} battleId={battle.id} onChunk={onChunk} onError={onStreamError} />}
      </div>
      <aside className="min-w-0">
        <Leaderboard task={task.key} taskName={task.name} />
      </aside>
    </div>
  );
}
