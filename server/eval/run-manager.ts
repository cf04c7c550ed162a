/**
 * Eval runs started from the web page: run inside the web server process, one at a time (the
 * worker and the machine are shared), progress kept in memory for the live subscription and
 * written to the run row about once a second (so a reload, or another tab, sees it too).
 */
import type { Db } from "../../db/client";
import type { EvalRunStatus } from "../../db/schema/evals";
import { cancelEvalRunRow, completeEvalRun, createEvalRun, failEvalRun, getEvalRun, setEvalRunProgress } from "../db-queries/evals";
import { LoraLandError } from "../errors";
import { isFullRun } from "./headline";
import { compareThroughput, runEval, type EvalTask, type WorkerEndpoint } from "./runner";

export interface RunProgress {
  runId: number;
  status: EvalRunStatus;
  done: number;
  total: number;
  error: string | null;
}

interface ActiveRun {
  progress: RunProgress;
  listeners: Set<() => void>;
  controller: AbortController;
  /** settles when the run's row has its final state (done, failed or cancelled) */
  finished: Promise<void>;
}

type Registry = Map<number, ActiveRun>;
const g = globalThis as typeof globalThis & { __loralandEvalRuns?: Registry };
const active: Registry = (g.__loralandEvalRuns ??= new Map());

export class EvalBusyError extends LoraLandError {
  constructor(readonly runId: number) {
    super("CONFLICT", `eval run #${runId} is still running: wait for it to finish`);
    this.name = "EvalBusyError";
  }
}

export function runningWebRun(): number | null {
  for (const [id, run] of active) if (run.progress.status === "running") return id;
  return null;
}

function notify(run: ActiveRun) {
  for (const l of run.listeners) l();
}

export interface StartRunOptions {
  db: Db;
  endpoint: WorkerEndpoint;
  modelId: string;
  tasks: EvalTask[];
  exampleLimit: number | null;
  concurrency: number;
  /** rows per adapter for the throughput comparison; 0 = skip */
  compare?: number;
  /** may a full-test-split result become the catalog's headline (the admin started it)? */
  headline?: boolean;
  /** who started it (may cancel it); null = the admin without an owner cookie */
  ownerId?: string | null;
}

/** Create the run row and start it in the background; resolves with its id at once. */
export async function startWebRun(opts: StartRunOptions): Promise<number> {
  const busy = runningWebRun();
  if (busy !== null) throw new EvalBusyError(busy);
  const total = opts.tasks.reduce((a, t) => a + t.examples.length, 0) * 2;
  const row = await createEvalRun(opts.db, {
    origin: "web",
    ownerId: opts.ownerId ?? null,
    modelId: opts.modelId,
    workerUrl: opts.endpoint.url,
    protocol: opts.endpoint.protocol,
    adapters: opts.tasks.map((t) => t.slug),
    exampleLimit: opts.exampleLimit,
    concurrency: opts.concurrency,
    total,
  });
  const run: ActiveRun = { progress: { runId: row.id, status: "running", done: 0, total, error: null }, listeners: new Set(), controller: new AbortController(), finished: Promise.resolve() };
  active.set(row.id, run);

  run.finished = (async () => {
    let lastWrite = 0;
    try {
      const out = await runEval({
        endpoint: opts.endpoint,
        tasks: opts.tasks,
        concurrency: opts.concurrency,
        signal: run.controller.signal,
        onProgress: (p) => {
          run.progress = { ...run.progress, done: p.done };
          notify(run);
          if (Date.now() - lastWrite > 1000) {
            lastWrite = Date.now();
            // no row updated: the run was cancelled through another web server (its row says so)
            void setEvalRunProgress(opts.db, { id: row.id, done: p.done })
              .then((still) => still || run.controller.abort(new EvalCancelledError(row.id)))
              .catch(() => {});
          }
        },
        keepPartial: true,
      });
      if (out.cancelled) {
        // the examples answered so far are kept; a cancelled run is never a headline
        await completeEvalRun(opts.db, { id: row.id, results: out.results, wallMs: out.wallMs, requestsPerSecond: out.requestsPerSecond, throughput: null, headline: [], status: "cancelled", done: run.progress.done });
        run.progress = { ...run.progress, status: "cancelled" };
        return;
      }
      const throughput = opts.compare ? await compareThroughput({ endpoint: opts.endpoint, tasks: opts.tasks, perAdapter: opts.compare, concurrency: opts.concurrency, signal: run.controller.signal }) : null;
      const headline = opts.headline ? opts.tasks.filter((t) => opts.exampleLimit === null && out.results.some((r) => r.slug === t.slug && isFullRun({ exampleLimit: opts.exampleLimit }, r, t.card))).map((t) => t.slug) : [];
      await completeEvalRun(opts.db, { id: row.id, results: out.results, wallMs: out.wallMs, requestsPerSecond: out.requestsPerSecond, throughput, headline });
      run.progress = { ...run.progress, status: "done", done: total };
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      await failEvalRun(opts.db, { id: row.id, error }).catch(() => {});
      run.progress = { ...run.progress, status: "failed", error };
    } finally {
      notify(run);
      // keep the final state a little while for late subscribers, then forget it
      setTimeout(() => active.delete(row.id), 60_000).unref?.();
    }
  })();
  return row.id;
}

export class EvalCancelledError extends LoraLandError {
  constructor(readonly runId: number) {
    super("CONFLICT", `eval run #${runId} was cancelled`);
    this.name = "EvalCancelledError";
  }
}

/**
 * Cancel a running run: the runner sends no new request and aborts those in flight; the examples
 * answered so far are stored and the run is marked cancelled. Resolves once its row says so. A
 * run of another web server process (not in this one's memory) is marked cancelled in its row;
 * that process notices at its next progress write and stops (and a run left `running` by a
 * crashed server is closed the same way). False when the run is not running.
 */
export async function cancelWebRun(db: Db, runId: number): Promise<boolean> {
  const mem = active.get(runId);
  if (mem && mem.progress.status === "running") {
    mem.controller.abort(new EvalCancelledError(runId));
    await mem.finished;
    const final: RunProgress = mem.progress;
    return final.status === "cancelled";
  }
  return cancelEvalRunRow(db, { id: runId });
}

/**
 * Progress of a run until it ends: from memory for runs of this process, else from its row
 * (runs of another server process, or finished ones).
 */
export async function* watchRun(db: Db, runId: number, signal?: AbortSignal): AsyncGenerator<RunProgress> {
  let last = "";
  while (!signal?.aborted) {
    const mem = active.get(runId);
    let p: RunProgress | null = mem?.progress ?? null;
    if (!p) {
      const row = await getEvalRun(db, { id: runId });
      if (!row) throw new LoraLandError("NOT_FOUND", `runId: eval run #${runId} does not exist`);
      p = { runId, status: row.status, done: row.done, total: row.total, error: row.error };
    }
    const key = JSON.stringify(p);
    if (key !== last) {
      last = key;
      yield p;
    }
    if (p.status !== "running") return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, 1000);
      function done() {
        clearTimeout(t);
        mem?.listeners.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      mem?.listeners.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
