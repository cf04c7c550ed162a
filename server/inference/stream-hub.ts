/**
 * The web server's side of streaming: each run (one playground generation, or the 2–6 panes of a
 * comparison started together) relays its worker streams into one ordered event log. Subscribers
 * read the log from any index, so a dropped SSE connection resumes from `lastEventId` without
 * losing or repeating a token. One run = one subscription (6 panes would otherwise take all 6
 * HTTP/1.1 connections a browser allows per host).
 *
 * The hub measures each stream (queue time, TTFT, tokens/s) and persists it: partial output is
 * flushed while streaming, the final row when the stream ends. When the last subscriber leaves
 * and does not come back within `graceMs`, the worker requests are aborted and the output kept as
 * interrupted.
 */
import { randomUUID } from "node:crypto";
import type { GenerationStatus, StoredToken } from "../../db/schema/chats";
import type { GenerationPatch } from "../db-queries/chats";
import { LoraLandError } from "../errors";
import type { StreamLease } from "../limits";
import { streamGeneration, WorkerError, type StreamRequest, type WorkerTarget } from "./stream";

export interface PaneStats {
  /** ms from our request to the worker accepting it (or the worker's own queue time when it says) */
  queueMs: number | null;
  /** ms from our request to the first token */
  ttftMs: number | null;
  totalMs: number | null;
  tokensIn: number | null;
  tokensOut: number;
  /** decode rate: tokens after the first over the time since the first (≥ 100 ms of it), else tokens over the time since the request */
  tokensPerSecond: number | null;
}

export type FinalStatus = Exclude<GenerationStatus, "queued" | "streaming">;

export type RunChunk =
  | { pane: number; kind: "status"; status: "queued" | "streaming" }
  | {
      pane: number;
      kind: "token";
      id: number;
      text: string;
      logprob: number | null;
      special: boolean;
      alternatives?: { id: number; text: string; logprob: number }[];
      /** server wall clock (ms, sub-ms precision) when the token left the worker stream */
      at: number;
    }
  | { pane: number; kind: "stats"; stats: PaneStats }
  | {
      pane: number;
      kind: "end";
      status: FinalStatus;
      finishReason: string | null;
      error: string | null;
      /** HTTP status of a worker error (0 = unreachable), for the UI's banner */
      errorStatus: number | null;
      /** the final text as stored (the worker's `generated_text` when it sends one) */
      output: string;
      stats: PaneStats;
    };

export interface PaneSpec {
  generationId: string;
  request: StreamRequest;
  lease?: StreamLease;
  /** false: the pane has no row (an arena battle's), so nothing is written */
  persist?: boolean;
}

interface PaneState extends PaneSpec {
  controller: AbortController;
  /** why it was aborted: decides the final status */
  abortAs: "stopped" | "interrupted" | "error" | null;
  /** what to tell the user when it was aborted as an error */
  abortMessage: string | null;
  status: GenerationStatus;
  text: string;
  tokens: StoredToken[];
  t0: number;
  tAccepted: number | null;
  workerQueueMs: number | null;
  tFirst: number | null;
  tLast: number | null;
  tokensIn: number | null;
  flushedLength: number;
  /** a stop's cut: the stored output is the first `cutAt` tokens (what the browser showed) */
  cutAt: number | null;
  /** the final write, once the pane has ended (a stop that arrives after it rewrites the row) */
  finalSave: Promise<void> | null;
}

interface Run {
  id: string;
  /** resolves once the generations' rows exist (the worker request starts before they are written) */
  ready: Promise<unknown>;
  ownerId: string;
  panes: PaneState[];
  events: RunChunk[];
  waiters: Set<() => void>;
  finished: boolean;
  subscribers: number;
  graceTimer: NodeJS.Timeout | null;
}

export interface HubOptions {
  target: () => WorkerTarget;
  persist: (generationId: string, patch: GenerationPatch) => Promise<void>;
  /** how long a run without subscribers keeps streaming before it is cut off as interrupted */
  graceMs?: number;
  /** how often partial output is written while streaming */
  flushMs?: number;
  /** how long a finished run's log stays for late resumes */
  keepMs?: number;
  /** first wait before a failed final write is tried again (doubling, at most 10 s) */
  retryMs?: number;
  onError?: (e: unknown) => void;
}

const now = () => performance.timeOrigin + performance.now();

export class StreamHub {
  private readonly runs = new Map<string, Run>();
  /** subscribers that connected before their run started (the browser subscribes while it asks to start) */
  private readonly awaited = new Map<string, Set<() => void>>();
  private readonly graceMs: number;
  private readonly flushMs: number;
  private readonly keepMs: number;
  private readonly retryMs: number;

  constructor(private readonly opts: HubOptions) {
    this.graceMs = opts.graceMs ?? 5_000;
    this.flushMs = opts.flushMs ?? 1_000;
    this.keepMs = opts.keepMs ?? 120_000;
    this.retryMs = opts.retryMs ?? 500;
  }

  /**
   * Starts every pane's worker request at once; returns the run id to subscribe to. `ready`
   * (the rows being inserted) gates every write, so the worker can start before the database is
   * done; if it rejects, the streams are cut.
   */
  start(ownerId: string, panes: PaneSpec[], ready: Promise<unknown> = Promise.resolve(), runId?: string): string {
    // a caller-chosen id (the browser's, so it can subscribe before the answer) must be new
    if (runId !== undefined && this.runs.has(runId)) throw new RunIdTakenError(runId);
    const run: Run = {
      id: runId ?? randomUUID(),
      ready,
      ownerId,
      panes: panes.map((p) => ({
        ...p,
        controller: new AbortController(),
        abortAs: null,
        abortMessage: null,
        status: "queued",
        text: "",
        tokens: [],
        t0: now(),
        tAccepted: null,
        workerQueueMs: null,
        tFirst: null,
        tLast: null,
        tokensIn: null,
        flushedLength: 0,
        cutAt: null,
        finalSave: null,
      })),
      events: [],
      waiters: new Set(),
      finished: false,
      subscribers: 0,
      graceTimer: null,
    };
    this.runs.set(run.id, run);
    const early = this.awaited.get(run.id);
    if (early) {
      this.awaited.delete(run.id);
      for (const w of early) w();
    }
    ready.catch((e: unknown) => {
      for (const p of run.panes) {
        p.abortAs ??= "error";
        p.abortMessage ??= `could not save this run: ${e instanceof Error ? e.message : String(e)}`;
        p.controller.abort();
      }
    });
    // nobody may ever subscribe (client gone before it could): the grace timer covers that too
    this.armGrace(run);
    run.panes.forEach((_, i) => this.push(run, { pane: i, kind: "status", status: "queued" }));
    void Promise.all(run.panes.map((p, i) => this.pump(run, p, i))).then(() => {
      run.finished = true;
      if (run.graceTimer) clearTimeout(run.graceTimer);
      this.wake(run);
      setTimeout(() => this.runs.delete(run.id), this.keepMs).unref();
    });
    return run.id;
  }

  has(runId: string, ownerId: string): boolean {
    return this.runs.get(runId)?.ownerId === ownerId;
  }

  /** The owner of a run this hub holds (live or kept for late resumes), null when it has none. */
  ownerOf(runId: string): string | null {
    return this.runs.get(runId)?.ownerId ?? null;
  }

  /**
   * Waits (at most `timeoutMs`, or until the signal aborts) for a run that may not have started
   * yet; true when it exists and is this owner's.
   */
  async awaitRun(runId: string, ownerId: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (!this.runs.has(runId) && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const waiters = this.awaited.get(runId) ?? new Set<() => void>();
        this.awaited.set(runId, waiters);
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          waiters.delete(done);
          if (waiters.size === 0 && this.awaited.get(runId) === waiters) this.awaited.delete(runId);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        signal?.addEventListener("abort", done);
        waiters.add(done);
      });
    }
    return this.has(runId, ownerId);
  }

  /**
   * Resolves once one of the run's panes has a token or has ended, or after `timeoutMs` (at once
   * for a run this hub does not hold).
   */
  firstOutput(runId: string, timeoutMs: number): Promise<void> {
    const run = this.runs.get(runId);
    return new Promise<void>((resolve) => {
      if (!run) return resolve();
      const done = () => {
        clearTimeout(timer);
        run.waiters.delete(check);
        resolve();
      };
      // called at each of the run's events (wake() clears its waiters): waits again until then
      const check = () => (run.finished || run.events.some((e) => e.kind === "token" || e.kind === "end") ? done() : run.waiters.add(check));
      const timer = setTimeout(done, timeoutMs);
      check();
    });
  }

  /** Generation ids of a run's panes, in pane order. */
  generationIds(runId: string): string[] {
    return this.runs.get(runId)?.panes.map((p) => p.generationId) ?? [];
  }

  /**
   * Events of the run from index `from` on, live, until the run ends or the signal aborts.
   * Yields `[index, chunk]` so the caller can tag each SSE event with its index.
   */
  async *subscribe(runId: string, ownerId: string, from: number, signal?: AbortSignal): AsyncGenerator<[number, RunChunk]> {
    const run = this.runs.get(runId);
    if (!run || run.ownerId !== ownerId) throw new RunNotFoundError(runId);
    run.subscribers++;
    if (run.graceTimer) {
      clearTimeout(run.graceTimer);
      run.graceTimer = null;
    }
    let wake: (() => void) | null = null;
    const onAbort = () => wake?.();
    signal?.addEventListener("abort", onAbort);
    try {
      let i = Math.max(0, from);
      for (;;) {
        while (i < run.events.length) {
          yield [i, run.events[i]!];
          i++;
        }
        if (run.finished || signal?.aborted) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
          run.waiters.add(resolve);
        });
        if (wake) run.waiters.delete(wake);
        wake = null;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      run.subscribers--;
      if (run.subscribers === 0 && !run.finished) this.armGrace(run);
    }
  }

  /**
   * Stops one pane (or all): the worker request is aborted at once and the output kept as stopped.
   * `shown[i]` is how many tokens of pane i the browser showed when its Stop was clicked: the
   * stored output is cut there (never past what was produced), so history holds what the person
   * saw. Without it the cut is what had arrived here. A pane that already ended on its own before
   * the stop arrived (a race with the last tokens) is rewritten as stopped when it showed less.
   */
  stop(runId: string, ownerId: string, pane?: number, shown?: (number | null | undefined)[]): boolean {
    const run = this.runs.get(runId);
    if (!run || run.ownerId !== ownerId) return false;
    for (const [i, p] of run.panes.entries()) {
      if (pane !== undefined && pane !== i) continue;
      const seen = shown?.[i];
      const cut = Math.min(seen ?? p.tokens.length, p.tokens.length);
      if (p.finalSave) {
        if (p.status !== "stopped" && cut < p.tokens.length) {
          const prior = p.finalSave;
          p.finalSave = prior.then(() => this.save(run, p, this.cutPatch(p, cut), true));
        }
        continue;
      }
      if (p.abortAs === null) {
        p.abortAs = "stopped";
        p.cutAt = cut;
      } else if (p.abortAs === "stopped" && seen != null) p.cutAt = Math.min(p.cutAt ?? cut, cut);
      p.controller.abort();
    }
    return true;
  }

  /** A stored pane's row cut to its first `cut` tokens, as stopped. */
  private cutPatch(p: PaneState, cut: number): GenerationPatch {
    const tokens = p.tokens.slice(0, cut);
    p.tokens = tokens;
    p.text = tokens.filter((t) => !t.special).map((t) => t.text).join("");
    p.status = "stopped";
    return { status: "stopped", output: p.text, tokens, tokensOut: tokens.length, finishReason: null, error: null };
  }

  /** Aborts everything (server shutdown): outputs are kept as interrupted. */
  async shutdown(): Promise<void> {
    const pending = [...this.runs.values()].filter((r) => !r.finished);
    for (const run of pending) for (const p of run.panes) {
      p.abortAs ??= "interrupted";
      p.controller.abort();
    }
    await Promise.all(pending.map((r) => new Promise<void>((resolve) => (r.finished ? resolve() : r.waiters.add(() => resolve())))));
  }

  activeRuns(): number {
    return [...this.runs.values()].filter((r) => !r.finished).length;
  }

  private armGrace(run: Run) {
    if (run.graceTimer) clearTimeout(run.graceTimer);
    run.graceTimer = setTimeout(() => {
      run.graceTimer = null;
      if (run.subscribers > 0 || run.finished) return;
      for (const p of run.panes) {
        p.abortAs ??= "interrupted";
        p.controller.abort();
      }
    }, this.graceMs);
    run.graceTimer.unref();
  }

  private push(run: Run, chunk: RunChunk) {
    run.events.push(chunk);
    this.wake(run);
  }

  private wake(run: Run) {
    const waiters = [...run.waiters];
    run.waiters.clear();
    for (const w of waiters) w();
  }

  private stats(p: PaneState, end: number | null): PaneStats {
    const out = p.tokens.length;
    const decodeMs = p.tFirst !== null && p.tLast !== null ? p.tLast - p.tFirst : null;
    return {
      queueMs: p.workerQueueMs ?? (p.tAccepted !== null ? p.tAccepted - p.t0 : null),
      ttftMs: p.tFirst !== null ? p.tFirst - p.t0 : null,
      totalMs: end !== null ? end - p.t0 : null,
      tokensIn: p.tokensIn,
      tokensOut: out,
      // decode rate over a window long enough to mean something; tokens that arrive in one burst
      // (a worker flushing several steps at once) fall back to the rate since the request
      tokensPerSecond:
        decodeMs !== null && decodeMs >= 100 && out > 1
          ? ((out - 1) * 1000) / decodeMs
          : p.tLast !== null && out > 0
            ? (out * 1000) / (p.tLast - p.t0)
            : null,
    };
  }

  private async save(run: Run, p: PaneState, patch: GenerationPatch, final = false) {
    if (p.persist === false) return;
    try {
      await run.ready;
    } catch {
      return; // the rows were never written (start reports why): nothing to update
    }
    try {
      await this.opts.persist(p.generationId, patch);
    } catch (e) {
      this.opts.onError?.(e);
      // the final row must land, or it stays queued/streaming while this live process holds its
      // lease (no recovery touches it): tried again in the background until the database is back
      if (final) this.retryFinal(p, patch, this.retryMs);
    }
  }

  private retryFinal(p: PaneState, patch: GenerationPatch, delayMs: number) {
    setTimeout(() => {
      this.opts.persist(p.generationId, patch).catch((e: unknown) => {
        this.opts.onError?.(e);
        this.retryFinal(p, patch, Math.min(delayMs * 2, 10_000));
      });
    }, delayMs).unref();
  }

  /** Relays one pane's worker stream into the run log; never throws. */
  private async pump(run: Run, p: PaneState, pane: number): Promise<void> {
    let finishReason: string | null = null;
    let finalText: string | null = null;
    let error: WorkerError | Error | null = null;
    let lastFlush = now();
    let flushing: Promise<void> | null = null;
    try {
      for await (const ev of streamGeneration(this.opts.target(), p.request, p.controller.signal)) {
        if (ev.type === "accepted") {
          p.tAccepted = now();
          p.workerQueueMs = ev.workerQueueMs;
        } else if (ev.type === "token") {
          // stopped: nothing after the click reaches the log (the abort ends the stream shortly)
          if (p.abortAs === "stopped") break;
          const at = now();
          if (p.tFirst === null) {
            p.tFirst = at;
            p.status = "streaming";
            this.push(run, { pane, kind: "status", status: "streaming" });
          }
          p.tLast = at;
          const { type: _type, ...token } = ev;
          p.tokens.push(token);
          if (!ev.special) p.text += ev.text;
          this.push(run, { pane, kind: "token", ...token, at });
          if (p.tokens.length === 1) this.push(run, { pane, kind: "stats", stats: this.stats(p, null) });
          // partial output reaches the database while streaming, so a crash loses at most flushMs
          if (at - lastFlush >= this.flushMs && !flushing) {
            lastFlush = at;
            p.flushedLength = p.text.length;
            flushing = this.save(run, p, { status: "streaming", output: p.text, tokensOut: p.tokens.length, ttftMs: p.tFirst - p.t0 }).finally(
              () => (flushing = null),
            );
          }
        } else {
          finishReason = ev.finishReason;
          finalText = ev.generatedText;
          p.tokensIn = ev.promptTokens;
        }
      }
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
    }
    await flushing;
    const end = now();
    if (p.abortAs === "stopped" && p.cutAt !== null && p.cutAt < p.tokens.length) {
      p.tokens = p.tokens.slice(0, p.cutAt);
      p.text = p.tokens.filter((t) => !t.special).map((t) => t.text).join("");
    }
    let status: FinalStatus;
    if (p.abortAs) status = p.abortAs;
    else if (!error) status = "done";
    // the worker went away mid-stream: what arrived is kept as interrupted
    else if (error instanceof WorkerError && (error.errorType === "stream_broken" || error.errorType === "stream_truncated") && p.tokens.length > 0)
      status = "interrupted";
    else status = "error";
    const output = status === "done" && finalText !== null ? finalText : p.text;
    const stats = this.stats(p, end);
    const message =
      status === "stopped"
        ? null
        : p.abortMessage
          ? p.abortMessage
          : status === "interrupted" && p.abortAs
            ? "the page was closed before the stream finished"
            : (error?.message ?? null);
    p.status = status;
    p.lease?.release();
    const final: GenerationPatch = {
      status,
      output,
      tokens: p.tokens,
      finishReason: status === "done" ? finishReason : null,
      error: message,
      queueMs: stats.queueMs,
      ttftMs: stats.ttftMs,
      totalMs: stats.totalMs,
      tokensIn: stats.tokensIn,
      tokensOut: stats.tokensOut,
      tokensPerSecond: stats.tokensPerSecond,
      finishedAt: new Date(),
    };
    p.finalSave = this.save(run, p, final, true);
    await p.finalSave;
    this.push(run, {
      pane,
      kind: "end",
      status,
      finishReason: status === "done" ? finishReason : null,
      error: message,
      errorStatus: error instanceof WorkerError ? error.status : null,
      output,
      stats,
    });
  }
}

export class RunIdTakenError extends LoraLandError {
  constructor(id: string) {
    super("CONFLICT", `runId ${id} is already in use: pick a new one`);
    this.name = "RunIdTakenError";
  }
}

export class RunNotFoundError extends LoraLandError {
  constructor(id: string) {
    super("NOT_FOUND", `stream ${id} not found (finished long ago, or another owner's)`);
    this.name = "RunNotFoundError";
  }
}
