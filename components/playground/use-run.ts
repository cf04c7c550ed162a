"use client";
/**
 * Runs and their panes on the client: `start` asks the server to start some panes (one tRPC
 * mutation), each run is then followed by one subscription (<RunSubscription>), whose tracked
 * chunks fold into the panes. The SSE link resumes a dropped connection from the last event id.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useCallback, useRef, useState } from "react";
import type { GenerationParams, PromptMode } from "../../db/schema/chats";
import type { RunChunk } from "../../server/inference/stream-hub";
import { useTRPC } from "@/trpc/react";
import { applyChunk, emptyPane, isRunning, type PaneView } from "./run-state";

export interface ActiveRun {
  runId: string;
  /** grid index of each of the run's panes */
  map: number[];
}

export interface RunRequest {
  mode: PromptMode;
  prompt: string;
  inputs?: Record<string, string>;
  params: GenerationParams;
  alternatives?: number;
}

export function useRuns(initial: (string | null)[]) {
  const trpc = useTRPC();
  const [panes, setPanes] = useState<PaneView[]>(() => initial.map(emptyPane));
  const [runs, setRuns] = useState<ActiveRun[]>([]);
  const [startedAt, setStartedAt] = useState<(number | null)[]>(() => initial.map(() => null));
  const [chatId, setChatId] = useState<string | null>(null);
  const [error, setError] = useState<{ message: string; code: string | null } | null>(null);
  const runsRef = useRef(runs);
  runsRef.current = runs;
  const queryClient = useQueryClient();
  const startMutation = useMutation(trpc.generate.start.mutationOptions());
  const stopMutation = useMutation(trpc.generate.stop.mutationOptions());

  const onChunk = useCallback((runId: string, chunk: RunChunk) => {
    const run = runsRef.current.find((r) => r.runId === runId);
    if (!run) return;
    const grid = run.map[chunk.pane];
    if (grid === undefined) return;
    setPanes((ps) => {
      const next = applyChunk(ps, { ...chunk, pane: grid });
      // the run is over when every pane of it has ended: drop its subscription
      if (chunk.kind === "end" && run.map.every((g) => !isRunning(next[g]!.status))) {
        setRuns((rs) => rs.filter((r) => r.runId !== runId));
        // stored by now: the history sidebar can show it
        void queryClient.invalidateQueries(trpc.chats.pathFilter());
      }
      return next;
    });
  }, [queryClient, trpc]);

  /** Starts the given grid panes (all by default) with the same request. */
  const start = useCallback(
    async (req: RunRequest, which?: number[], opts: { continueChat?: boolean } = {}) => {
      const grid = which ?? panes.map((_, i) => i);
      setError(null);
      setPanes((ps) => ps.map((p, i) => (grid.includes(i) ? { ...emptyPane(p.adapterId), status: "queued" } : p)));
      try {
        const res = await startMutation.mutateAsync({
          ...req,
          adapters: grid.map((i) => panes[i]!.adapterId),
          chatId: opts.continueChat && chatId ? chatId : undefined,
        });
        const t0 = Date.now();
        setStartedAt((s) => s.map((v, i) => (grid.includes(i) ? t0 : v)));
        setChatId(res.chatId);
        const run = { runId: res.runId, map: grid };
        runsRef.current = [...runsRef.current, run];
        setRuns(runsRef.current);
        setPanes((ps) => ps.map((p, i) => (grid.includes(i) ? { ...p, generationId: res.generationIds[grid.indexOf(i)] ?? null } : p)));
        return res;
      } catch (e) {
        const err = e as { message?: string; data?: { code?: string; httpStatus?: number } };
        setError({ message: err.message ?? String(e), code: err.data?.code ?? null });
        setPanes((ps) => ps.map((p, i) => (grid.includes(i) ? { ...p, status: "idle" } : p)));
        return null;
      }
    },
    [panes, chatId, startMutation],
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

  const setAdapters = useCallback((adapters: (string | null)[]) => {
    setPanes((ps) => adapters.map((a, i) => (ps[i] && ps[i]!.adapterId === a ? ps[i]! : emptyPane(a))));
    setStartedAt((s) => adapters.map((_, i) => s[i] ?? null));
  }, []);

  return { panes, setPanes, runs, startedAt, chatId, setChatId, error, setError, start, stop, onChunk, setAdapters, busy: startMutation.isPending };
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
