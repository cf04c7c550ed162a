"use client";
/**
 * Runs and their panes on the client: `start` asks the server to start some panes (one tRPC
 * mutation), each run is then followed by one subscription (<RunSubscription>), whose tracked
 * chunks fold into the panes. The SSE link resumes a dropped connection from the last event id.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useCallback, useEffect, useRef, useState } from "react";
import type { GenerationParams, PromptMode } from "../../db/schema/chats";
import type { RunChunk } from "../../server/inference/stream-hub";
import { useTRPC } from "@/trpc/react";
import { applyChunk, emptyPane, isRunning, type PaneView } from "./run-state";

export interface ActiveRun {
  runId: string;
  /** grid index of each of the run's panes */
  map: number[];
  /** panes of it that have ended (counted by the chunk handler) */
  ended?: number;
}

export interface RunRequest {
  mode: PromptMode;
  prompt: string;
  inputs?: Record<string, string>;
  params: GenerationParams;
  alternatives?: number;
}

type EndChunk = Extract<RunChunk, { kind: "end" }>;

/**
 * Pane states by grid position (absent = idle). `start` names the grid positions and their
 * models; `onEnd` hears each pane's final chunk (chat mode appends the answer to its transcript).
 */
export function useRuns(opts: { onEnd?: (grid: number, end: EndChunk) => void } = {}) {
  const trpc = useTRPC();
  const [panes, setPanes] = useState<(PaneView | undefined)[]>([]);
  const [runs, setRuns] = useState<ActiveRun[]>([]);
  const [startedAt, setStartedAt] = useState<(number | null)[]>([]);
  const [chatId, setChatId] = useState<string | null>(null);
  const [error, setError] = useState<{ message: string; code: string | null } | null>(null);
  // runs as event handlers see them (chunks can arrive before React re-renders)
  const runsRef = useRef<ActiveRun[]>([]);
  const onEndRef = useRef(opts.onEnd);
  useEffect(() => {
    onEndRef.current = opts.onEnd;
  });
  const queryClient = useQueryClient();
  const startMutation = useMutation(trpc.generate.start.mutationOptions());
  const stopMutation = useMutation(trpc.generate.stop.mutationOptions());

  const setActive = useCallback((next: ActiveRun[]) => {
    runsRef.current = next;
    setRuns(next);
  }, []);

  const onChunk = useCallback(
    (runId: string, chunk: RunChunk) => {
      const run = runsRef.current.find((r) => r.runId === runId);
      if (!run) return;
      const grid = run.map[chunk.pane];
      if (grid === undefined) return;
      setPanes((ps) => applyChunk(ps as PaneView[], { ...chunk, pane: grid }));
      if (chunk.kind !== "end") return;
      onEndRef.current?.(grid, chunk);
      run.ended = (run.ended ?? 0) + 1;
      // the run is over when every pane of it has ended: drop its subscription
      if (run.ended >= run.map.length) {
        setActive(runsRef.current.filter((r) => r.runId !== runId));
        // stored by now: the history sidebar can show it
        void queryClient.invalidateQueries(trpc.chats.pathFilter());
      }
    },
    [queryClient, trpc, setActive],
  );

  /** Starts grid panes `which` (positions) on the models `adapters` (one per position in `which`). */
  const start = useCallback(
    async (req: RunRequest, which: number[], adapters: (string | null)[], opts: { continueChat?: boolean } = {}) => {
      setError(null);
      setPanes((ps) => {
        const next = ps.slice();
        which.forEach((g, k) => (next[g] = { ...emptyPane(adapters[k] ?? null), status: "queued" }));
        return next;
      });
      try {
        const res = await startMutation.mutateAsync({ ...req, adapters, chatId: opts.continueChat && chatId ? chatId : undefined });
        const t0 = Date.now();
        setStartedAt((s) => {
          const next = s.slice();
          for (const g of which) next[g] = t0;
          return next;
        });
        setChatId(res.chatId);
        setActive([...runsRef.current, { runId: res.runId, map: which }]);
        setPanes((ps) => {
          const next = ps.slice();
          which.forEach((g, k) => (next[g] = { ...(next[g] ?? emptyPane(adapters[k] ?? null)), generationId: res.generationIds[k] ?? null }));
          return next;
        });
        return res;
      } catch (e) {
        const err = e as { message?: string; data?: { code?: string } };
        setError({ message: err.message ?? String(e), code: err.data?.code ?? null });
        setPanes((ps) => {
          const next = ps.slice();
          for (const g of which) next[g] = undefined;
          return next;
        });
        return null;
      }
    },
    [chatId, startMutation, setActive],
  );

  const stop = useCallback(
    (gridPane?: number) => {
      for (const r of runsRef.current) {
        if (gridPane === undefined) stopMutation.mutate({ runId: r.runId });
        else if (r.map.includes(gridPane)) stopMutation.mutate({ runId: r.runId, pane: r.map.indexOf(gridPane) });
      }
    },
    [stopMutation],
  );

  /** Removes a grid position (compare: a pane closed while nothing runs). */
  const remove = useCallback((grid: number) => {
    setPanes((ps) => ps.filter((_, i) => i !== grid));
    setStartedAt((s) => s.filter((_, i) => i !== grid));
  }, []);

  /** The pane at a grid position, idle on `adapterId` when it never ran. */
  const paneAt = (grid: number, adapterId: string | null): PaneView => {
    const p = panes[grid];
    return p && (p.status !== "idle" || p.adapterId === adapterId) ? p : emptyPane(adapterId);
  };

  const anyRunning = panes.some((p) => p && isRunning(p.status));
  return { paneAt, runs, startedAt, chatId, error, start, stop, remove, onChunk, anyRunning, busy: startMutation.isPending };
}

/** Follows one run; unmounting it (page left) lets the server cut the stream after its grace time. */
export function RunSubscription({ runId, onChunk }: { runId: string; onChunk: (runId: string, chunk: RunChunk) => void }) {
  const trpc = useTRPC();
  useSubscription(
    trpc.generate.stream.subscriptionOptions(
      { runId },
      {
        onData: (e) => onChunk(runId, (e as { data: RunChunk }).data),
      },
    ),
  );
  return null;
}
