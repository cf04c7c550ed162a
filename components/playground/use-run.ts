"use client";
/**
 * Runs and their panes on the client: `start` names a new run (a random id) and asks the server to
 * start its panes (one tRPC mutation); the run's subscription (<RunSubscription>) opens at the same
 * time, not after the answer, so the SSE connection is up by the first token (the server holds it
 * until the run begins). Its tracked chunks fold into the panes; the SSE link resumes a dropped
 * connection from the last event id, and a subscription the server refused (an error the link does
 * not retry) is opened again from there, so a pane never waits for ever on a dead subscription.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { startTransition, useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import type { GenerationParams, PromptMode } from "../../db/schema/chats";
import type { RunChunk } from "../../server/inference/stream-hub";
import { useTRPC } from "@/trpc/react";
import { applyChunk, emptyPane, isRunning, queuedPane, type PaneView } from "./run-state";
import { paneModelOf } from "../compare/merged-recipe";

export interface ActiveRun {
  runId: string;
  /** grid index of each of the run's panes */
  map: number[];
  /** panes of it that have ended (counted by the chunk handler) */
  ended?: number;
  /** each run pane's model */
  adapters: (string | null)[];
  /** each run pane's generation, once the start call has answered */
  generationIds?: (string | null)[];
  /** the last event delivered (a reopened subscription resumes after it) */
  lastEventId?: string;
}

/** A v4 UUID (crypto.randomUUID needs a secure context; a self-hosted server may be plain http). */
function newRunId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface RunRequest {
  mode: PromptMode;
  prompt: string;
  /** compare in template mode: each pane's own prompt (its adapter's template), by pane */
  prompts?: string[];
  inputs?: Record<string, string>;
  params: GenerationParams;
  alternatives?: number;
  /** chat mode, first turn: the chat's system prompt */
  system?: string;
}

type EndChunk = Extract<RunChunk, { kind: "end" }>;

/** Tokens each of a run's panes showed when it was stopped (null: not stopped), by run pane. */
function shownOf(frozen: Map<string, PaneView>, run: ActiveRun): (number | null)[] {
  return run.map.map((_, k) => frozen.get(`${run.runId}:${k}`)?.tokens.length ?? null);
}

/**
 * How long the next run's id stays subscribed unused before a fresh one replaces it: under the
 * server's wait for a start (AWAIT_START_MS in server/routers/generate.ts, 30 s), so an idle page
 * never sees that wait run out.
 */
const NEXT_RUN_RENEW_MS = 25_000;

/** Times a run's refused subscription is opened again (backing off) before its panes end as errors. */
const REOPEN_TRIES = 3;

/** Is this tab in view? (a hidden tab keeps no connection open for a run it cannot start) */
function useVisible(): boolean {
  const [visible, setVisible] = useState(false);
  useEffect(() => {
    const update = () => setVisible(document.visibilityState === "visible");
    update();
    document.addEventListener("visibilitychange", update);
    return () => document.removeEventListener("visibilitychange", update);
  }, []);
  return visible;
}

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
  // runs the server is not yet known to hold (no answer to the start call, no chunk of it yet) ->
  // the stop asked meanwhile (true = all panes), sent once it is
  const pendingStops = useRef(new Map<string, number[] | true | null>());
  // panes as the DOM shows them (set at commit): a stop freezes exactly this
  const shownRef = useRef<(PaneView | undefined)[]>([]);
  // stopped panes ("runId:runPane") -> what was on screen at the click; their later chunks are dropped
  const frozen = useRef(new Map<string, PaneView>());
  useEffect(() => {
    onEndRef.current = opts.onEnd;
  });
  useLayoutEffect(() => {
    shownRef.current = panes;
  }, [panes]);
  // The next run's id, subscribed while the tab is in view and nothing is being started, so the
  // SSE connection is already up when Run is clicked: the click sends only the start call (the
  // subscription's own request, handled after the start on the server's one thread, was on the
  // first token's path). Renewed before the server stops waiting for it.
  const visible = useVisible();
  const [nextRunId, setNextRunId] = useState(newRunId);
  // per subscribed id: times it was opened again after an error (part of its React key), and its
  // errors since its last event
  const [reopened, setReopened] = useState<Record<string, number>>({});
  const failures = useRef(new Map<string, number>());
  const nextRunIdRef = useRef(nextRunId);
  useEffect(() => {
    nextRunIdRef.current = nextRunId;
    const renew = setTimeout(() => setNextRunId(newRunId()), NEXT_RUN_RENEW_MS);
    return () => clearTimeout(renew);
  }, [nextRunId]);
  // subscribed only while no run is active: opening it during a start would put its request on
  // the server beside that run's first token
  const prewarmed = visible && runs.length === 0 ? nextRunId : null;
  const queryClient = useQueryClient();
  const startMutation = useMutation(trpc.generate.start.mutationOptions());
  const stopMutation = useMutation(trpc.generate.stop.mutationOptions());
  const stopRef = useRef(stopMutation.mutate);
  useEffect(() => {
    stopRef.current = stopMutation.mutate;
  });

  /** Tells the server to stop `run`'s panes (run pane indices; true = all), with what each showed. */
  const sendStop = useCallback((run: ActiveRun, panes: number[] | true) => {
    if (panes === true) stopRef.current({ runId: run.runId, shown: shownOf(frozen.current, run) });
    else for (const pane of panes) stopRef.current({ runId: run.runId, pane, shown: shownOf(frozen.current, run) });
  }, []);

  /** The server holds `run` now: the stop asked before that (if any) goes out, once. */
  const sendPendingStop = useCallback(
    (run: ActiveRun) => {
      if (!pendingStops.current.has(run.runId)) return;
      const asked = pendingStops.current.get(run.runId);
      pendingStops.current.delete(run.runId);
      if (asked) sendStop(run, asked);
    },
    [sendStop],
  );

  const setActive = useCallback((next: ActiveRun[]) => {
    runsRef.current = next;
    setRuns(next);
  }, []);

  const onChunk = useCallback(
    (runId: string, chunk: RunChunk, eventId?: string) => {
      const run = runsRef.current.find((r) => r.runId === runId);
      if (!run) return;
      if (eventId !== undefined) {
        // (a reopened subscription resumes after the last event: one at or below it was seen)
        if (run.lastEventId !== undefined && Number(eventId) <= Number(run.lastEventId)) return;
        run.lastEventId = eventId;
        failures.current.delete(runId);
      }
      // a chunk of the run: the server holds it (its start may not have answered yet)
      sendPendingStop(run);
      const grid = run.map[chunk.pane];
      if (grid === undefined) return;
      const still = frozen.current.get(`${runId}:${chunk.pane}`);
      if (still) {
        // stopped on screen already: only the end counts (its stats; the text stays what was shown)
        if (chunk.kind !== "end") return;
        setPanes((ps) => {
          const next = ps.slice();
          next[grid] = { ...still, stats: chunk.stats };
          return next;
        });
        frozen.current.delete(`${runId}:${chunk.pane}`);
        onEndRef.current?.(grid, { ...chunk, status: "stopped", output: still.text, finishReason: null, error: null, errorStatus: null });
      } else {
        // a live chunk always finds its pane running (queued by the start, or by its first chunk;
        // only the end stops it): one that is not is the last run's, when React has not yet
        // rendered the queued pane (the start renders it as a transition; a render at this
        // chunk's priority skips it). The chunk lands on a fresh pane, so that text never shows.
        const k = chunk.pane;
        setPanes((ps) => {
          const stale = !(ps[grid] && isRunning(ps[grid].status));
          const base = stale ? Object.assign(ps.slice(), { [grid]: { ...queuedPane(run.adapters[k] ?? null), generationId: run.generationIds?.[k] ?? null } }) : ps;
          return applyChunk(base as PaneView[], { ...chunk, pane: grid });
        });
        if (chunk.kind !== "end") return;
        onEndRef.current?.(grid, chunk);
      }
      run.ended = (run.ended ?? 0) + 1;
      // the run is over when every pane of it has ended: drop its subscription
      if (run.ended >= run.map.length) {
        setActive(runsRef.current.filter((r) => r.runId !== runId));
        // stored by now: the history sidebar can show it
        void queryClient.invalidateQueries(trpc.chats.pathFilter());
      }
    },
    [queryClient, trpc, setActive, sendPendingStop],
  );

  /** Starts grid panes `which` (positions) on the models `adapters` (one per position in `which`). */
  const start = useCallback(
    async (req: RunRequest, which: number[], adapters: (string | null)[], opts: { continueChat?: boolean } = {}) => {
      // subscribed before the server answers: the next run's subscription is up already (or
      // opens while the run starts), and becomes this run's
      const run: ActiveRun = { runId: nextRunIdRef.current, map: which, adapters };
      nextRunIdRef.current = newRunId();
      pendingStops.current.set(run.runId, null);
      failures.current.delete(run.runId); // (the next run's id may have failed while it waited)
      runsRef.current = [...runsRef.current, run];
      // a transition, so React renders the queued panes in a task of their own, after the start
      // request has left: a click's plain updates render in a microtask, ahead of the few
      // microtasks the mutation and the tRPC link take to reach fetch()
      startTransition(() => {
        setError(null);
        setPanes((ps) => {
          const next = ps.slice();
          which.forEach((g, k) => (next[g] = queuedPane(adapters[k] ?? null)));
          return next;
        });
        setNextRunId(nextRunIdRef.current);
        setRuns(runsRef.current);
      });
      try {
        // a merged pane's model is its recipe's name: sent as the recipe
        const res = await startMutation.mutateAsync({ ...req, adapters: adapters.map(paneModelOf), runId: run.runId, chatId: opts.continueChat && chatId ? chatId : undefined });
        const t0 = Date.now();
        setStartedAt((s) => {
          const next = s.slice();
          for (const g of which) next[g] = t0;
          return next;
        });
        run.generationIds = res.generationIds;
        setChatId(res.chatId);
        setPanes((ps) => {
          const next = ps.slice();
          which.forEach((g, k) => (next[g] = { ...(next[g] ?? emptyPane(adapters[k] ?? null)), generationId: res.generationIds[k] ?? null }));
          return next;
        });
        sendPendingStop(run);
        return res;
      } catch (e) {
        pendingStops.current.delete(run.runId);
        setActive(runsRef.current.filter((r) => r !== run));
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
    [chatId, startMutation, sendPendingStop, setActive],
  );

  /**
   * Stops a grid pane (or all): the pane freezes on screen at once as stopped (later chunks are
   * dropped), and the server is told how many tokens it showed, so it stores exactly that.
   */
  const stop = useCallback(
    (gridPane?: number) => {
      const freeze: [number, PaneView][] = [];
      for (const r of runsRef.current) {
        r.map.forEach((g, k) => {
          if (gridPane !== undefined && g !== gridPane) return;
          const p = shownRef.current[g];
          if (!p || !isRunning(p.status) || frozen.current.has(`${r.runId}:${k}`)) return;
          const still: PaneView = { ...p, status: "stopped" };
          frozen.current.set(`${r.runId}:${k}`, still);
          freeze.push([g, still]);
        });
        // not known to the server yet: stopped once it is (its first chunk, or the start's answer)
        if (pendingStops.current.has(r.runId)) {
          const asked = pendingStops.current.get(r.runId) ?? null;
          if (gridPane === undefined) pendingStops.current.set(r.runId, true);
          else if (r.map.includes(gridPane) && asked !== true) pendingStops.current.set(r.runId, [...(asked ?? []), r.map.indexOf(gridPane)]);
          continue;
        }
        if (gridPane === undefined) sendStop(r, true);
        else if (r.map.includes(gridPane)) sendStop(r, [r.map.indexOf(gridPane)]);
      }
      if (freeze.length > 0)
        setPanes((ps) => {
          const next = ps.slice();
          for (const [g, still] of freeze) next[g] = still;
          return next;
        });
    },
    [sendStop],
  );

  /**
   * A subscription the server refused with an error the SSE link does not retry (a 4xx: NOT_FOUND,
   * a rate limit...): opened again from its last event after a backoff. A run's panes that still
   * run end as errors after REOPEN_TRIES refusals in a row; the next run's id is simply retried.
   */
  const onSubscriptionError = useCallback(
    (runId: string, err: { message: string; data?: { code?: string } | null }) => {
      const n = (failures.current.get(runId) ?? 0) + 1;
      failures.current.set(runId, n);
      const run = runsRef.current.find((r) => r.runId === runId);
      if (run && n > REOPEN_TRIES) {
        failures.current.delete(runId);
        // the server keeps what it streams: History has the run's answers
        // (a validation error's message is a JSON dump: its code says enough)
        const why = !err.message.includes("\n") && err.message.length <= 160 ? err.message : (err.data?.code ?? "an error");
        const error = `lost this run's stream (${why}); its answer is saved in History`;
        setPanes((ps) => {
          const next = ps.slice();
          for (const g of run.map) {
            const p = next[g];
            if (p && isRunning(p.status)) next[g] = { ...p, status: "error", error };
          }
          return next;
        });
        setActive(runsRef.current.filter((r) => r !== run));
        void queryClient.invalidateQueries(trpc.chats.pathFilter());
        return;
      }
      setTimeout(() => setReopened((m) => ({ ...m, [runId]: (m[runId] ?? 0) + 1 })), 250 * 2 ** (Math.min(n, 5) - 1));
    },
    [queryClient, trpc, setActive],
  );
  const lastEventIdOf = useCallback((runId: string) => runsRef.current.find((r) => r.runId === runId)?.lastEventId ?? null, []);

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
  // the runs' subscriptions, or the next run's (its key stays when it becomes a run's); a reopened
  // one gets a new key
  const subscriptions = (prewarmed ? [prewarmed] : runs.map((r) => r.runId)).map((runId) => ({
    key: `${runId}:${reopened[runId] ?? 0}`,
    props: { runId, onChunk, onError: onSubscriptionError, lastEventIdOf } satisfies RunSubscriptionProps,
  }));
  return { paneAt, runs, subscriptions, startedAt, chatId, error, start, stop, remove, onChunk, anyRunning, busy: startMutation.isPending };
}

export interface RunSubscriptionProps {
  runId: string;
  onChunk: (runId: string, chunk: RunChunk, eventId?: string) => void;
  onError: (runId: string, err: { message: string; data?: { code?: string } | null }) => void;
  /** the last event id already delivered for the run (a reopened subscription resumes after it) */
  lastEventIdOf: (runId: string) => string | null;
}

/** Follows one run (from before it starts); unmounting it (page left) lets the server cut the stream after its grace time. */
export function RunSubscription({ runId, onChunk, onError, lastEventIdOf }: RunSubscriptionProps) {
  const trpc = useTRPC();
  // where it starts, fixed for its life (the input is its identity: reopening is a new key)
  const [lastEventId] = useState(() => lastEventIdOf(runId));
  useSubscription(
    trpc.generate.stream.subscriptionOptions(
      // opened with the start call: the server waits for the run to begin
      { runId, awaitStart: true, ...(lastEventId !== null ? { lastEventId } : {}) },
      {
        onData: (e) => {
          const { id, data } = e as { id?: string; data: RunChunk };
          onChunk(runId, data, id);
        },
        onError: (err) => onError(runId, err),
      },
    ),
  );
  return null;
}
