/**
 * What the routes share: the engine (null while the model loads), the worker's options and
 * limits, the admission counters (bounded queue + token budget), metrics and the log.
 */
import type { EngineApi } from "../engine/types";
import type { AdapterRoots } from "../adapters/local";
import type { HubOptions } from "../adapters/hub";
import { HttpError } from "./errors";
import { WorkerMetrics } from "./metrics";
import { TokenizerThread } from "../tokenizer/encode-thread";
import { maxTokenBytes } from "../tokenizer/tokenizer";

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
  /** a request's headers must arrive within this (408 and close beyond; default 10 s) */
  headersTimeoutMs?: number;
  /** a request's headers and body must arrive within this (408 and close beyond; default 30 s); never cuts a response */
  bodyTimeoutMs?: number;
  /** open connections served; a request on a connection beyond it gets 429 + Retry-After and the connection is closed (default 512) */
  maxConnections?: number;
  roots: AdapterRoots;
  hub: HubOptions;
  version: string;
  /** most sequences one request's best_of may ask for (TGI's --max-best-of; default 1) */
  maxBestOf?: number;
  /** extra facts for /info (engine options in use) */
  infoExtra?: Record<string, unknown>;
  log?: Logger;
}

export type Phase = "loading" | "ready" | "failed" | "stopping";

/** what a loading worker is doing: downloading the base model from the Hub, then loading its weights */
export interface LoadProgress {
  stage: "downloading" | "loading";
  /** 0..1 of this stage, null while unknown */
  fraction: number | null;
  /** e.g. the file being downloaded */
  detail?: string;
}

export class WorkerState {
  engine: EngineApi | null = null;
  phase: Phase = "loading";
  loadError: string | null = null;
  readonly startedAt = Date.now();
  loadMs: number | null = null;
  /** set by the CLI while phase is "loading"; /health and /info report it */
  loadProgress: LoadProgress | null = null;
  inFlight = 0;
  queuedTokens = 0;
  /** open HTTP connections (kept by the server) */
  openConnections = 0;
  /** Hub downloads running (each also holds an admission place) */
  downloads = 0;
  readonly metrics = new WorkerMetrics();
  readonly log: Logger;
  /** long prompts are tokenized here, off the event loop */
  tokenizer: TokenizerThread;
  private tokenBytes: number | null = null;

  constructor(readonly options: WorkerOptions) {
    this.log = options.log ?? (() => {});
    this.tokenizer = new TokenizerThread(options.modelDir);
  }

  /** the model folder once known (a Hub base model is downloaded after the server listens) */
  setModelDir(dir: string): void {
    this.options.modelDir = dir;
    this.tokenizer.close();
    this.tokenizer = new TokenizerThread(dir);
    this.tokenBytes = null;
  }

  setEngine(engine: EngineApi): void {
    this.engine = engine;
    this.loadMs = Date.now() - this.startedAt;
    if (this.phase === "loading") this.phase = "ready";
    this.loadProgress = null;
    this.tokenizer.warm();
  }

  /**
   * Bytes of prompt text that can possibly fit in the context (maxContext x the most bytes one
   * token stands for), never more than the body limit: longer prompts are refused before they
   * are tokenized.
   */
  get maxInputBytes(): number {
    if (this.tokenBytes === null) {
      try {
        this.tokenBytes = maxTokenBytes(this.options.modelDir);
      } catch {
        this.tokenBytes = Number.POSITIVE_INFINITY; // no readable tokenizer.json: the body limit bounds it
      }
    }
    return Math.min(this.options.maxBodyBytes, this.maxContext * this.tokenBytes);
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
    const busy = this.inFlight + this.downloads;
    if (busy >= limit || (this.inFlight > 0 && this.queuedTokens + tokens > this.maxQueuedTokens)) {
      const retryAfter = Math.max(1, Math.ceil(busy / Math.max(1, this.options.maxRunning)));
      this.metrics.rejected.inc({ reason: "overloaded" });
      throw new HttpError(429, "overloaded", `the worker is at capacity (${this.inFlight} requests and ${this.downloads} Hub downloads in flight, limit ${limit}; ${this.queuedTokens} tokens reserved, limit ${this.maxQueuedTokens}); retry after ${retryAfter}s`, { retryAfter });
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

  /**
   * A place for one Hub download: at most `hub.maxConcurrent` at once, and each counts as one
   * request in flight for admission (a flood of downloads leaves no room for more, and vice
   * versa); 429 with Retry-After beyond. Returns the release.
   */
  admitDownload(): () => void {
    const maxDownloads = this.options.hub.maxConcurrent ?? 2;
    const limit = this.options.maxRunning + this.options.maxQueue;
    if (this.downloads >= maxDownloads || this.inFlight + this.downloads >= limit) {
      this.metrics.rejected.inc({ reason: "hub_downloads" });
      const why = this.downloads >= maxDownloads ? `${this.downloads} Hub downloads are running (limit ${maxDownloads})` : `the worker is at capacity (${this.inFlight + this.downloads} in flight, limit ${limit})`;
      throw new HttpError(429, "overloaded", `${why}; retry after 5s`, { retryAfter: 5 });
    }
    this.downloads++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.downloads--;
    };
  }
}
