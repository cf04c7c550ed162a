/**
 * What the routes share: the engine (null while the model loads), the worker's options and
 * limits, the admission counters (bounded queue + token budget), metrics and the log.
 */
import type { EngineApi } from "../engine/types";
import type { AdapterRoots } from "../adapters/local";
import type { HubOptions } from "../adapters/hub";
import { HttpError } from "./errors";
import { WorkerMetrics } from "./metrics";

export type Logger = (event: string, fields?: Record<string, unknown>) => void;

export interface WorkerOptions {
  modelId: string;
  modelDir: string;
  /** most new tokens one request may ask for */
  maxNewTokens: number;
  /** prompt + generated tokens of one request (min of this and the engine's own limit) */
  maxContext: number;
  /** requests running in the engine at once (the engine's maxRunning) */
  maxRunning: number;
  /** requests admitted beyond maxRunning; more -> 429 */
  maxQueue: number;
  /** prompt + max_new_tokens summed over admitted requests; more -> 429 (default: (maxRunning+maxQueue) * maxContext) */
  maxQueuedTokens?: number;
  maxBodyBytes: number;
  roots: AdapterRoots;
  hub: HubOptions;
  version: string;
  /** extra facts for /info (engine options in use) */
  infoExtra?: Record<string, unknown>;
  log?: Logger;
}

export type Phase = "loading" | "ready" | "failed" | "stopping";

export class WorkerState {
  engine: EngineApi | null = null;
  phase: Phase = "loading";
  loadError: string | null = null;
  readonly startedAt = Date.now();
  loadMs: number | null = null;
  inFlight = 0;
  queuedTokens = 0;
  readonly metrics = new WorkerMetrics();
  readonly log: Logger;

  constructor(readonly options: WorkerOptions) {
    this.log = options.log ?? (() => {});
  }

  setEngine(engine: EngineApi): void {
    this.engine = engine;
    this.loadMs = Date.now() - this.startedAt;
    if (this.phase === "loading") this.phase = "ready";
  }

  setFailed(err: unknown): void {
    this.phase = "failed";
    this.loadError = err instanceof Error ? err.message : String(err);
  }

  /** prompt + generated tokens allowed per request */
  get maxContext(): number {
    const engineLimit = (this.engine as { limits?: { maxContext?: number } } | null)?.limits?.maxContext ?? this.engine?.model.maxPositionEmbeddings;
    return Math.min(this.options.maxContext, engineLimit ?? this.options.maxContext);
  }

  get maxQueuedTokens(): number {
    return this.options.maxQueuedTokens ?? (this.options.maxRunning + this.options.maxQueue) * this.maxContext;
  }

  /** the engine, or 503 while loading / after a failed load / while stopping */
  ready(): EngineApi {
    if (this.phase === "stopping") throw new HttpError(503, "unavailable", "the worker is shutting down", { retryAfter: 5 });
    if (!this.engine || this.phase !== "ready") {
      if (this.phase === "failed") throw new HttpError(503, "model_load_failed", `the model failed to load: ${this.loadError}`);
      throw new HttpError(503, "loading", "the model is still loading; retry when GET /health answers 200", { retryAfter: 2 });
    }
    return this.engine;
  }

  /** Take a place in the bounded queue (429 with Retry-After when full); returns the release. */
  admit(tokens: number): () => void {
    const limit = this.options.maxRunning + this.options.maxQueue;
    if (this.inFlight >= limit || (this.inFlight > 0 && this.queuedTokens + tokens > this.maxQueuedTokens)) {
      const retryAfter = Math.max(1, Math.ceil(this.inFlight / Math.max(1, this.options.maxRunning)));
      this.metrics.rejected.inc({ reason: "overloaded" });
      throw new HttpError(429, "overloaded", `the worker is at capacity (${this.inFlight} requests in flight, limit ${limit}; ${this.queuedTokens} tokens reserved, limit ${this.maxQueuedTokens}); retry after ${retryAfter}s`, { retryAfter });
    }
    this.inFlight++;
    this.queuedTokens += tokens;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.queuedTokens -= tokens;
    };
  }
}
