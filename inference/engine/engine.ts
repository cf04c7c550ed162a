/**
 * The engine: one base model, many adapters, one loop.
 *
 * The loop owns every piece of mutable state (requests, KV blocks, adapter pins). `generate()`
 * only validates and enqueues; each step (scheduled with setImmediate so HTTP I/O interleaves)
 * is: scheduler output -> ForwardBatch -> model.forward -> sample the logits rows -> emit token
 * events -> finish and free. Adapter loads are promises the loop never awaits; when one settles
 * the loop is woken. Cancellation (AbortSignal, or leaving the event iteration) is applied at the
 * next step boundary: the request's blocks are freed before the next forward pass.
 */
import type {
  AdapterInfo, DoneEvent, EngineApi, EngineEvent, EngineOptions, EngineStats, FinishReason,
  GenerateRequest, ModelSummary, TokenEvent,
} from "./types";
import { BlockAllocator } from "./block-allocator";
import { Scheduler, type SchedSeq } from "./scheduler";
import { buildForwardBatch } from "./batch-builder";
import { EventQueue } from "./event-queue";
import { RequestSampler, logSumExp, randomSeed, type SampledToken, type SamplerConfig } from "./sampler";
import { canSampleOnDevice, forwardAndSample } from "../webgpu/sampling";
import { StopMatcher } from "./stop";
import { ANY_OBJECT, cachedSchema, JsonConstraint, pieceOutputText, SchemaError, type CompiledSchema, type ConstraintVocab } from "./json-constraint";
import { StreamingDetokenizer } from "./detokenizer";
import { AdapterRegistry, toInfo } from "../adapters/registry";
import { AdapterCache } from "../adapters/cache";
import { MERGE_STRATEGIES, mergeAdapters, recipeKey, type MergeRecipe } from "../adapters/merge";
import type { AdapterEntry } from "../adapters/registry";
import { loadPeftAdapter, readAdapterMeta } from "../adapters/peft";
import { loadModel } from "../model/load";
import type { DtypeChoice } from "../model/weights";
import type { Model } from "../model/model";
import type { LoraWeights } from "../adapters/lora-weights";
import { KvCache } from "../model/kv-cache";
import type { ModelConfig } from "../model/config";
import { Tokenizer } from "../tokenizer/tokenizer";
import { getBackend } from "../kernels/index";
import type { Backend } from "../kernels/backend";
import { AdapterError, EngineError } from "../errors";

const DEFAULTS = {
  blockSize: 16,
  maxBatchTokens: 512,
  maxRunning: 16,
  adapterSlots: 8,
  adapterBudgetBytes: 2 ** 30,
  hostCacheBytes: 2 * 2 ** 30,
  kvCacheBytes: 2 ** 30,
};

/** options beyond the EngineApi contract */
export interface EngineCreateOptions extends EngineOptions {
  /** upper bound on the KV cache's memory when numBlocks is not given (default 1 GiB) */
  kvCacheBytes?: number;
  /** the base weights' format (default auto: the stored one when it fits next to the KV pool, else q8; model/weights.ts) */
  dtype?: DtypeChoice;
  /** where converted (q8/q4) weights are cached and memory-mapped from on later starts (default: none) */
  weightCacheDir?: string | null;
  /** loading progress, 0..1, after each weight matrix */
  onLoadProgress?: (fraction: number) => void;
  /** log line sink (default stderr); null silences */
  log?: ((line: string) => void) | null;
  /**
   * called after each step's token events were pushed, with the number of steps so far; a
   * returned promise holds the next step until it settles (tests pause the loop with it)
   */
  afterStep?: (steps: number) => void | Promise<void>;
}

interface Request extends SchedSeq {
  readonly adapterId: string | null; // cache key of the adapter registration
  readonly adapterName: string | null;
  readonly promptLen: number;
  readonly maxNew: number;
  /** tokens may not exceed this (maxContext) */
  readonly maxTotal: number;
  readonly ignoreEos: boolean;
  readonly topAlternatives: number;
  readonly sampler: RequestSampler;
  readonly detok: StreamingDetokenizer;
  readonly stop: StopMatcher;
  /** per prompt token (the first null), filled by the steps that compute the prompt; null when not asked for */
  readonly promptLogprobs: (number | null)[] | null;
  /** structured output: masks the logits before sampling */
  readonly constraint: JsonConstraint | null;
  readonly queue: EventQueue<EngineEvent>;
  generated: number[];
  text: string;
  cancelled: boolean;
  finished: boolean;
  readonly tArrive: number;
  tScheduled: number | null;
  tFirstToken: number | null;
  unlisten: () => void;
}

export class Engine implements EngineApi {
  readonly model: ModelSummary;
  readonly chatTemplate: string | null;
  readonly specialTokens: { bos: string | null; eos: string | null };
  /** the KV pool and batching limits in use (after defaults and memory sizing) */
  readonly limits: { blockSize: number; numBlocks: number; maxBatchTokens: number; maxRunning: number; maxContext: number; kvCacheBytes: number };

  // generic over the backend's tensor handles: the engine only passes them between model calls
  private readonly net: Model<unknown, unknown, unknown>;
  private readonly config: ModelConfig;
  private readonly tokenizer: Tokenizer;
  private readonly kv: KvCache<unknown>;
  private readonly allocator: BlockAllocator;
  private readonly scheduler: Scheduler<Request>;
  private readonly registry = new AdapterRegistry();
  /** base_model_name_or_path values already warned about: said once per start, not per adapter */
  private readonly warnedBases = new Set<string>();
  private readonly cache: AdapterCache;
  private readonly eosIds: Set<number>;
  private readonly log: (line: string) => void;
  private readonly modelDir: string;
  private nextSeqId = 0;
  /** each token's output text for structured output, built on first use */
  private constraintVocab: ConstraintVocab | null = null;
  /** tokenText memo: at most one string per vocabulary entry */
  private readonly tokenTexts = new Map<number, string>();
  private loopPending: NodeJS.Immediate | null = null;
  private readonly afterStep: EngineCreateOptions["afterStep"];
  /** an afterStep promise is holding the loop */
  private held = false;
  private closed = false;
  private counters = { steps: 0, lastBatchTokens: 0, tokensGenerated: 0, promptTokensProcessed: 0, preemptions: 0 };

  static async create(opts: EngineCreateOptions): Promise<Engine> {
    const backend: Backend<unknown, unknown, unknown> = typeof opts.backend === "object" ? opts.backend : getBackend(opts.backend ?? "native");
    const [tokenizer, model] = await Promise.all([Tokenizer.load(opts.modelDir), loadModel(opts.modelDir, {
      backend,
      weights: { dtype: opts.dtype, cacheDir: opts.weightCacheDir ?? null, kvBytes: opts.kvCacheBytes ?? DEFAULTS.kvCacheBytes, onProgress: opts.onLoadProgress },
    })]);
    return new Engine(model, tokenizer, opts);
  }

  private constructor(model: Model<unknown, unknown, unknown>, tokenizer: Tokenizer, opts: EngineCreateOptions) {
    this.net = model;
    this.config = model.config;
    this.tokenizer = tokenizer;
    this.modelDir = opts.modelDir;
    this.afterStep = opts.afterStep;
    this.log = opts.log === null ? () => {} : opts.log ?? ((l) => process.stderr.write(`[engine] ${l}\n`));
    const c = this.config;

    const blockSize = positiveInt(opts.blockSize ?? DEFAULTS.blockSize, "blockSize");
    const maxRunning = positiveInt(opts.maxRunning ?? DEFAULTS.maxRunning, "maxRunning");
    const maxBatchTokens = positiveInt(opts.maxBatchTokens ?? DEFAULTS.maxBatchTokens, "maxBatchTokens");
    const maxContext = positiveInt(Math.min(opts.maxContext ?? c.maxPositionEmbeddings, c.maxPositionEmbeddings), "maxContext");
    const kvCacheBytes = opts.kvCacheBytes ?? DEFAULTS.kvCacheBytes;
    const bytesPerBlock = KvCache.bytesPerBlock(c, blockSize);
    const wanted = Math.ceil(maxContext / blockSize) * maxRunning;
    // a device backend sizes the pool from its memory and buffer limits (webgpu/memory.ts)
    const plan = opts.numBlocks === undefined
      ? model.backend.planKvPool?.({ wantedBlocks: wanted, bytesPerBlock, bufferBytesPerBlock: KvCache.bufferBytesPerBlock(c, blockSize), capBytes: opts.kvCacheBytes ?? null })
      : undefined;
    if (plan) this.log(plan.reason);
    const numBlocks = opts.numBlocks !== undefined
      ? positiveInt(opts.numBlocks, "numBlocks")
      : plan ? plan.numBlocks : Math.max(1, Math.min(wanted, Math.floor(kvCacheBytes / bytesPerBlock)));
    this.limits = { blockSize, numBlocks, maxBatchTokens, maxRunning, maxContext, kvCacheBytes: numBlocks * bytesPerBlock };

    this.kv = new KvCache(c, numBlocks, blockSize, (floats) => model.backend.allocF32(floats));
    this.allocator = new BlockAllocator(numBlocks, blockSize);
    this.cache = new AdapterCache(this.registry, {
      slots: positiveInt(opts.adapterSlots ?? DEFAULTS.adapterSlots, "adapterSlots"),
      budgetBytes: opts.adapterBudgetBytes ?? DEFAULTS.adapterBudgetBytes,
      hostBytes: opts.hostCacheBytes ?? DEFAULTS.hostCacheBytes,
      load: (entry) => (entry.merge ? this.loadMerged(entry) : loadPeftAdapter(entry.dir, entry.id, c)),
      onSettled: (key, error) => this.onAdapterSettled(key, error),
      // adapter slots on the backend follow the resident tier: uploaded on entry (before the
      // forward pass that needs them), freed on eviction or unregistration
      onResident: (w) => model.uploadAdapter(w),
      onEvicted: (w) => model.releaseAdapter(w),
    });
    this.scheduler = new Scheduler<Request>(this.allocator, { maxBatchTokens, maxRunning }, {
      tryAcquire: (key) => this.cache.tryAcquire(key),
      release: (key) => this.cache.release(key),
      waitsForSlot: (key) => this.cache.waitsForSlot(key),
    });

    this.eosIds = new Set([...c.eosTokenIds, ...tokenizer.eosIds]);
    this.chatTemplate = tokenizer.chatTemplate ?? null;
    this.specialTokens = { bos: tokenizer.bosToken ?? null, eos: tokenizer.eosToken ?? null };
    this.model = {
      architecture: c.architecture,
      modelType: c.modelType,
      storedDtype: c.storedDtype,
      computeDtype: "float32",
      vocabSize: c.vocabSize,
      hiddenSize: c.hiddenSize,
      numLayers: c.numLayers,
      maxPositionEmbeddings: c.maxPositionEmbeddings,
      bosTokenId: c.bosTokenId ?? null,
      eosTokenIds: [...this.eosIds],
      parameters: model.parameters,
      backend: model.backend.name,
      weights: model.weights.load ?? null,
    };
    this.log(`${c.architecture} ${c.numLayers} layers, vocab ${c.vocabSize}, backend ${model.backend.name}; KV ${numBlocks} blocks x ${blockSize} tokens (${(this.limits.kvCacheBytes / 2 ** 20).toFixed(1)} MiB), maxBatchTokens ${maxBatchTokens}, maxRunning ${maxRunning}, maxContext ${maxContext}`);
  }

  // ---- tokenizer ---------------------------------------------------------------------------

  encode(text: string): number[] {
    return this.tokenizer.encode(text, { addSpecialTokens: true });
  }

  decode(ids: number[], skipSpecial = true): string {
    return ids.length === 0 ? "" : this.tokenizer.decode(ids, { skipSpecialTokens: skipSpecial });
  }

  // ---- adapters ----------------------------------------------------------------------------

  async registerAdapter(id: string, dir: string, source: AdapterInfo["source"], opts: { validate?: boolean } = {}): Promise<AdapterInfo> {
    const old = this.registry.get(id);
    const entry = this.registry.register(id, dir, source);
    if (old) {
      this.cache.drop(old.key);
      this.failWaiting(old.key, "adapter_not_found", `adapter "${id}" was replaced while the request waited`);
    }
    try {
      entry.meta = await readAdapterMeta(dir, id, this.config);
    } catch (e) {
      const err = asAdapterError(id, e);
      if (opts.validate) {
        this.registry.unregister(id);
        throw err;
      }
      entry.state = "failed";
      entry.error = err.message;
      return toInfo(entry);
    }
    if (entry.meta.baseModel && !sameModelName(entry.meta.baseModel, this.modelDir) && !this.warnedBases.has(entry.meta.baseModel)) {
      this.warnedBases.add(entry.meta.baseModel);
      this.log(`adapters with base_model_name_or_path "${entry.meta.baseModel}" (first: "${id}") differ from the served model; they are checked by shape only (said once)`);
    }
    if (opts.validate) {
      try {
        await this.cache.preload(entry.key);
      } catch (e) {
        this.registry.unregister(id);
        throw asAdapterError(id, e);
      }
    }
    return toInfo(entry);
  }

  unregisterAdapter(id: string): boolean {
    const e = this.registry.unregister(id);
    if (!e) return false;
    this.cache.drop(e.key);
    this.failWaiting(e.key, "adapter_not_found", `adapter "${id}" was unregistered while the request waited`);
    return true;
  }

  listAdapters(): AdapterInfo[] {
    return this.registry.list();
  }

  async preloadAdapter(id: string): Promise<void> {
    const e = this.registry.get(id);
    if (!e) throw new AdapterError(id, "is not registered", { code: "adapter_not_found", status: 404 });
    if (e.state === "failed" && e.error) throw new AdapterError(id, e.error.replace(`adapter "${id}": `, ""));
    await this.cache.preload(e.key);
  }

  // ---- requests ----------------------------------------------------------------------------

  generate(req: GenerateRequest): AsyncIterable<EngineEvent> {
    let seq: Request | null = null;
    const queue = new EventQueue<EngineEvent>(() => { if (seq) this.cancel(seq); });
    const fail = (code: string, message: string, field?: string) => {
      queue.push({ type: "error", code, message, ...(field ? { field } : {}) });
      queue.end();
      return queue;
    };
    if (this.closed) return fail("unavailable", "the engine is shutting down");
    try {
      seq = this.admit(req, queue);
    } catch (e) {
      if (e instanceof EngineError) return fail(e.code, e.message, e.field);
      if (e instanceof RangeError) return fail("invalid_request", e.message);
      this.log(`request rejected: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      return fail("internal", e instanceof Error ? e.message : String(e));
    }
    if (req.signal?.aborted) {
      this.finish(seq, "cancelled");
      return queue;
    }
    this.scheduler.add(seq);
    this.kick();
    return queue;
  }

  stats(): EngineStats {
    return {
      running: this.scheduler.running.length,
      waiting: this.scheduler.waiting.length,
      kvBlocksUsed: this.allocator.numUsed,
      kvBlocksTotal: this.allocator.numBlocks,
      residentAdapters: this.cache.residentCount,
      lastBatchTokens: this.counters.lastBatchTokens,
      tokensGenerated: this.counters.tokensGenerated,
      promptTokensProcessed: this.counters.promptTokensProcessed,
      steps: this.counters.steps,
      preemptions: this.counters.preemptions,
      adapterLoads: this.cache.loadsStarted,
      device: deviceStats(this.net.backend),
    };
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.loopPending) clearImmediate(this.loopPending);
    this.loopPending = null;
    for (const seq of [...this.scheduler.running, ...this.scheduler.waiting]) {
      this.scheduler.remove(seq);
      this.finish(seq, "cancelled");
    }
  }

  // ---- the loop ----------------------------------------------------------------------------

  private admit(req: GenerateRequest, queue: EventQueue<EngineEvent>): Request {
    const c = this.config;
    let adapterKey: string | null = null;
    let adapterName = req.adapterId ?? null;
    if (req.mergedAdapters) {
      if (adapterName !== null) throw new EngineError("invalid_request", "merged_adapters: give either an adapter id or merged adapters, not both", { field: "merged_adapters" });
      const merged = this.mergedEntry(req.mergedAdapters);
      adapterKey = merged.key;
      adapterName = merged.id;
    } else if (adapterName !== null) {
      const entry = this.registry.get(adapterName);
      if (!entry) throw new AdapterError(adapterName, "is not registered", { code: "adapter_not_found", status: 404, field: "adapter_id" });
      if (entry.state === "failed") throw new EngineError("adapter_invalid", entry.error ?? `adapter "${adapterName}" failed to load`, { field: "adapter_id" });
      adapterKey = entry.key;
    }
    let promptIds: number[];
    if (req.promptIds !== undefined) {
      if (!Array.isArray(req.promptIds) || req.promptIds.some((id) => !Number.isInteger(id) || id < 0 || id >= c.vocabSize)) {
        throw new EngineError("invalid_request", `prompt ids must be integers in [0, ${c.vocabSize})`, { field: "prompt_ids" });
      }
      promptIds = req.promptIds.slice();
    } else if (typeof req.prompt === "string") {
      promptIds = this.encode(req.prompt);
    } else {
      throw new EngineError("invalid_request", "give a prompt (text) or prompt ids", { field: "prompt" });
    }
    if (promptIds.length === 0) throw new EngineError("invalid_request", "the prompt is empty (no tokens)", { field: "prompt" });
    if (!Number.isInteger(req.maxNewTokens) || req.maxNewTokens < 1) {
      throw new EngineError("invalid_request", `max_new_tokens must be an integer >= 1, got ${req.maxNewTokens}`, { field: "max_new_tokens" });
    }
    const { maxContext, blockSize, numBlocks } = this.limits;
    if (promptIds.length >= maxContext) {
      throw new EngineError("prompt_too_long", `the prompt has ${promptIds.length} tokens; this engine serves at most ${maxContext} tokens per request (prompt + generated)`, { field: "prompt" });
    }
    const maxTotal = Math.min(maxContext, numBlocks * blockSize);
    if (promptIds.length >= maxTotal) {
      throw new EngineError("prompt_too_long", `the prompt has ${promptIds.length} tokens; the KV cache holds at most ${maxTotal} tokens for one request`, { field: "prompt" });
    }
    const s = req.sampling ?? {};
    const config: SamplerConfig = {
      temperature: s.temperature ?? 0,
      topK: s.topK ?? 0,
      topP: s.topP ?? 1,
      repetitionPenalty: s.repetitionPenalty ?? 1,
      frequencyPenalty: s.frequencyPenalty ?? 0,
      presencePenalty: s.presencePenalty ?? 0,
      typicalP: s.typicalP ?? 1,
    };
    const seed = s.seed ?? randomSeed();
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new EngineError("invalid_request", `seed must be an integer in [0, 2^32), got ${seed}`, { field: "seed" });
    const topAlternatives = req.topAlternatives ?? 0;
    if (!Number.isInteger(topAlternatives) || topAlternatives < 0 || topAlternatives > 20) {
      throw new EngineError("invalid_request", `top alternatives must be an integer in [0, 20], got ${topAlternatives}`, { field: "top_n_tokens" });
    }
    if (req.stop !== undefined && (!Array.isArray(req.stop) || req.stop.some((x) => typeof x !== "string"))) {
      throw new EngineError("invalid_request", "stop must be a list of strings", { field: "stop" });
    }
    let schema: CompiledSchema | null = null;
    if (req.responseFormat === "json_object") schema = ANY_OBJECT;
    else if (req.responseFormat) {
      try {
        schema = cachedSchema(req.responseFormat.schema);
      } catch (e) {
        if (!(e instanceof SchemaError)) throw e;
        const field = ["response_format.schema", ...e.path].join(".");
        throw new EngineError("invalid_request", `${field}: ${e.message}`, { field });
      }
    }
    const seqId = this.nextSeqId++;
    const seq: Request = {
      seqId,
      arrival: seqId,
      adapterId: adapterKey,
      adapterName,
      tokens: promptIds,
      numComputed: 0,
      promptLen: promptIds.length,
      maxNew: req.maxNewTokens,
      maxTotal,
      ignoreEos: req.ignoreEos ?? false,
      topAlternatives,
      sampler: new RequestSampler(config, seed, promptIds),
      detok: new StreamingDetokenizer(this.tokenizer, promptIds),
      stop: new StopMatcher(req.stop, { inclusive: req.stopInclusive ?? false }),
      constraint: schema ? new JsonConstraint(this.jsonVocab(), schema) : null,
      promptLogprobs: req.promptLogprobs ? [null, ...new Array<number | null>(promptIds.length - 1).fill(null)] : null,
      queue,
      generated: [],
      text: "",
      cancelled: false,
      finished: false,
      tArrive: performance.now(),
      tScheduled: null,
      tFirstToken: null,
      unlisten: () => {},
    };
    if (req.signal) {
      const signal = req.signal;
      const onAbort = () => this.cancel(seq);
      signal.addEventListener("abort", onAbort, { once: true });
      seq.unlisten = () => signal.removeEventListener("abort", onAbort);
    }
    return seq;
  }

  /** the registry entry of a merge recipe (its weights are merged when the cache first loads it) */
  private mergedEntry(m: NonNullable<GenerateRequest["mergedAdapters"]>): AdapterEntry {
    const field = "merged_adapters";
    if (!Array.isArray(m.ids) || m.ids.length === 0 || m.ids.length > 16) throw new EngineError("invalid_request", "merged_adapters.ids: name 1 to 16 registered adapters", { field: `${field}.ids` });
    const weights = m.weights && m.weights.length > 0 ? m.weights : m.ids.map(() => 1);
    if (weights.length !== m.ids.length || weights.some((w) => !Number.isFinite(w))) {
      throw new EngineError("invalid_request", `merged_adapters.weights: give ${m.ids.length} finite numbers, one per id (got ${weights.length})`, { field: `${field}.weights` });
    }
    const strategy = m.strategy ?? "linear";
    if (!MERGE_STRATEGIES.includes(strategy)) throw new EngineError("invalid_request", `merged_adapters.merge_strategy: must be one of ${MERGE_STRATEGIES.join(", ")}, got ${String(strategy)}`, { field: `${field}.merge_strategy` });
    // linear ignores density (as LoRAX does); LoRAX's default 0 would prune everything, so ties and dare need it given
    const density = strategy === "linear" ? 1 : m.density;
    if (density === undefined || !(density > 0 && density <= 1)) {
      throw new EngineError("invalid_request", `merged_adapters.density: must be given in (0, 1] for ${strategy}, got ${density ?? "none"}`, { field: `${field}.density` });
    }
    const parts = m.ids.map((id) => {
      const e = this.registry.get(id);
      if (!e) throw new AdapterError(id, "is not registered", { code: "adapter_not_found", status: 404, field: `${field}.ids` });
      if (e.state === "failed") throw new EngineError("adapter_invalid", e.error ?? `adapter "${id}" failed to load`, { field: `${field}.ids` });
      return e;
    });
    if (strategy !== "linear") {
      const ranks = new Set(parts.map((e) => e.meta?.rank));
      if (ranks.size > 1) throw new EngineError("invalid_request", `merged_adapters.ids: ${strategy} merges adapters of one rank; ${m.ids.map((id, i) => `${id}: ${parts[i]!.meta?.rank}`).join(", ")} (linear merges any ranks)`, { field: `${field}.ids` });
    }
    const recipe: MergeRecipe = { strategy, weights, density, majoritySignMethod: m.majoritySignMethod ?? "total" };
    const key = recipeKey(parts.map((e) => e.key), recipe);
    return this.registry.registerMerged(key, `merge(${m.ids.join("+")})`, parts, recipe, (old) => this.cache.drop(old));
  }

  /** a merged adapter's weights: its parts from the cache's tiers when there, else from disk */
  private async loadMerged(entry: AdapterEntry): Promise<LoraWeights> {
    const { parts, recipe } = entry.merge!;
    const weights = await Promise.all(parts.map((p) => this.cache.loaded(p.key) ?? loadPeftAdapter(p.dir, p.id, this.config)));
    return mergeAdapters(entry.id, entry.key, weights, recipe);
  }

  /** mark for removal at the next step boundary */
  private cancel(seq: Request): void {
    if (seq.finished || seq.cancelled) return;
    seq.cancelled = true;
    this.kick();
  }

  private kick(): void {
    if (this.loopPending || this.closed || this.held) return;
    this.loopPending = setImmediate(() => {
      this.loopPending = null;
      this.step();
    });
  }

  private step(): void {
    // cancellations first: their blocks are free before this step allocates
    for (const seq of [...this.scheduler.running, ...this.scheduler.waiting]) {
      if (seq.cancelled) {
        this.scheduler.remove(seq);
        this.finish(seq, "cancelled");
      }
    }
    const out = this.scheduler.schedule();
    this.counters.preemptions += out.preempted.length;
    if (out.chunks.length === 0) return; // idle, or waiting for adapter loads (they wake the loop)

    const tStep = performance.now();
    let logits: Float32Array;
    let built: ReturnType<typeof buildForwardBatch<Request>>;
    const failed = (e: unknown) => {
      this.log(`forward pass failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      for (const ch of out.chunks) {
        this.scheduler.remove(ch.seq);
        this.fail(ch.seq, "internal", `the forward pass failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      this.kick();
    };
    try {
      built = buildForwardBatch(out.chunks, this.allocator, (key) => this.cache.weights(key), (seq) => (seq.promptLogprobs ? seq.promptLen : 0));
      if (this.net.backend.device !== "cpu") {
        // a device backend reads the logits back asynchronously: the loop holds until they arrive
        const b = built;
        this.held = true;
        const onFail = (e: unknown) => { this.held = false; if (!this.closed) failed(e); };
        // sampled on the device when no row needs its full logits: only ids and candidates come back
        const rows = b.promptRows.length === 0 && this.net.backend.sampleRows
          ? b.sampled.map((seq) => ({ sampler: seq.sampler, topAlternatives: seq.topAlternatives, constrained: seq.constraint !== null }))
          : null;
        if (rows && canSampleOnDevice(rows, this.config.vocabSize)) {
          void forwardAndSample(this.net, b.batch, this.kv, rows).then(
            (picked) => { this.held = false; if (!this.closed) this.afterForward(out, b, null, tStep, picked); }, onFail);
          return;
        }
        void this.net.forwardAsync(b.batch, this.kv).then(
          (l) => { this.held = false; if (!this.closed) this.afterForward(out, b, l, tStep); }, onFail);
        return;
      }
      logits = this.net.forward(built.batch, this.kv, { reuseLogits: true }); // (logitRows, vocab), sampled before the next step
    } catch (e) {
      failed(e);
      return;
    }
    this.afterForward(out, built, logits, tStep);
  }

  /** applies one forward pass: sampled tokens, prompt logprobs, the next step */
  private afterForward(
    out: ReturnType<Scheduler<Request>["schedule"]>, built: ReturnType<typeof buildForwardBatch<Request>>,
    logits: Float32Array | null, tStep: number, picked: SampledToken[] | null = null,
  ): void {

    this.counters.steps++;
    this.counters.lastBatchTokens = out.numTokens;
    for (const ch of out.chunks) {
      ch.seq.numComputed += ch.count;
      ch.seq.tScheduled ??= tStep;
      // a decode is one token past the prompt; everything else is prompt (or recomputed) work
      if (!(ch.count === 1 && ch.start >= ch.seq.promptLen)) this.counters.promptTokensProcessed += ch.count;
    }
    const V = this.config.vocabSize;
    built.sampled.forEach((seq, row) => {
      if (seq.cancelled) return; // cancelled during the forward pass: dropped next step
      this.onToken(seq, picked ? picked[row]! : logits!.subarray(row * V, (row + 1) * V));
    });
    for (const { seq, row, position } of built.promptRows) {
      // log p(prompt[position + 1] | prompt[..position]) under the raw distribution
      const r = logits!.subarray(row * V, (row + 1) * V); // (prompt rows always read the logits back)
      seq.promptLogprobs![position + 1] = r[seq.tokens[position + 1]!]! - logSumExp(r);
    }
    const hold = this.afterStep?.(this.counters.steps);
    if (hold) {
      this.held = true;
      void hold.finally(() => {
        this.held = false;
        if (this.scheduler.hasWork) this.kick();
      });
      return;
    }
    if (this.scheduler.hasWork) this.kick();
  }

  /** `row`: the logits row, or the token sampled on the device (webgpu/sampling.ts) */
  private onToken(seq: Request, row: Float32Array | SampledToken): void {
    const picked = row instanceof Float32Array ? seq.sampler.sample(row, seq.topAlternatives, seq.constraint?.mask()) : row;
    seq.sampler.accept(picked.id);
    seq.constraint?.accept(picked.id);
    seq.tokens.push(picked.id);
    seq.generated.push(picked.id);
    seq.tFirstToken ??= performance.now();
    this.counters.tokensGenerated++;

    const special = this.tokenizer.isSpecial(picked.id);
    let finish: FinishReason | null = null;
    const pushed = seq.stop.push(seq.detok.push(picked.id));
    const stopped = pushed.stopped;
    let emit = pushed.emit;
    if (stopped) finish = "stop_sequence";
    else if (this.eosIds.has(picked.id) && !seq.ignoreEos) finish = "eos_token";
    else if (seq.generated.length >= seq.maxNew || seq.tokens.length >= seq.maxTotal) finish = "length";
    if (finish !== null && finish !== "stop_sequence") {
      // release text held back for an incomplete character or a possible stop prefix
      const tail = seq.stop.push(seq.detok.flush());
      emit += tail.emit;
      if (tail.stopped) finish = "stop_sequence";
      else emit += seq.stop.flush();
    }
    if (finish !== null && special && emit && seq.stop.inclusive) {
      // (inclusive stops hold nothing back) what a special last token releases is the rest of an
      // incomplete UTF-8 character at the very end: not text, so it is dropped from the text too
      emit = "";
    }
    seq.text += emit;
    const event: TokenEvent = { type: "token", id: picked.id, text: emit, logprob: picked.logprob, special };
    if (finish !== null) event.last = true;
    if (seq.generated.length === 1) event.timings = { queueMs: round1((seq.tScheduled ?? seq.tFirstToken) - seq.tArrive), ttftMs: round1(seq.tFirstToken - seq.tArrive) };
    if (seq.topAlternatives > 0) {
      event.alternatives = picked.alternatives.map((a) => ({ id: a.id, text: this.tokenText(a.id), logprob: a.logprob }));
    }
    seq.queue.push(event);
    if (finish !== null) {
      this.scheduler.remove(seq);
      this.finish(seq, finish);
    }
  }

  /**
   * Each vocabulary entry's text as it lands in the output, from the vocabulary itself (one
   * decode per entry would cost ~25 µs x vocab; json-constraint.ts pieceOutputText); special
   * tokens never. Byte-level BPE vocabularies are told by their "Ġ" (GPT-2's space).
   */
  private jsonVocab(): ConstraintVocab {
    if (!this.constraintVocab) {
      const pieces = Array.from({ length: this.config.vocabSize }, (_, id) => this.tokenizer.idToToken(id));
      const byteLevel = pieces.some((p) => p?.includes("Ġ"));
      const texts = pieces.map((p, id) => (p === undefined || p === "" || this.tokenizer.isSpecial(id) ? null : pieceOutputText(p, byteLevel)));
      this.constraintVocab = { texts, eosIds: this.eosIds };
    }
    return this.constraintVocab;
  }

  /** one token decoded alone, special tokens shown (alternatives' texts): memoized, a decode call costs ~25 µs */
  private tokenText(id: number): string {
    let text = this.tokenTexts.get(id);
    if (text === undefined) {
      text = this.decode([id], false);
      this.tokenTexts.set(id, text);
    }
    return text;
  }

  private finish(seq: Request, reason: FinishReason): void {
    if (seq.finished) return;
    seq.finished = true;
    seq.unlisten();
    const now = performance.now();
    const done: DoneEvent = {
      type: "done",
      finishReason: reason,
      text: seq.text,
      ids: seq.generated.slice(),
      promptTokens: seq.promptLen,
      generatedTokens: seq.generated.length,
      seed: seq.sampler.seed,
      ...(seq.promptLogprobs ? { promptLogprobs: seq.promptLogprobs.slice() } : {}),
      timings: {
        queueMs: round1((seq.tScheduled ?? now) - seq.tArrive),
        ttftMs: round1((seq.tFirstToken ?? now) - seq.tArrive),
        totalMs: round1(now - seq.tArrive),
      },
    };
    seq.queue.push(done);
    seq.queue.end();
  }

  private fail(seq: Request, code: string, message: string): void {
    if (seq.finished) return;
    seq.finished = true;
    seq.unlisten();
    seq.queue.push({ type: "error", code, message });
    seq.queue.end();
  }

  /** fail the waiting requests of one adapter registration (running ones hold their weights) */
  private failWaiting(key: string, code: string, message: string): void {
    for (const seq of [...this.scheduler.waiting]) {
      if (seq.adapterId !== key) continue;
      this.scheduler.remove(seq);
      this.fail(seq, code, message);
    }
  }

  private onAdapterSettled(key: string, error: AdapterError | null): void {
    if (error) {
      this.log(error.message);
      this.failWaiting(key, error.code, error.message);
    }
    if (this.scheduler.hasWork) this.kick();
  }
}

function deviceStats(be: Backend<unknown, unknown, unknown>): NonNullable<EngineStats["device"]> {
  const d = be.deviceInfo?.();
  return { type: be.device, adapter: d?.adapter ?? null, memoryInUseBytes: d?.memoryInUseBytes ?? null, memoryTotalBytes: d?.memoryTotalBytes ?? null };
}

function positiveInt(v: number, field: string): number {
  if (!Number.isInteger(v) || v < 1) throw new EngineError("invalid_option", `${field} must be a positive integer, got ${v}`, { field });
  return v;
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function asAdapterError(id: string, e: unknown): AdapterError {
  return e instanceof AdapterError ? e : new AdapterError(id, e instanceof Error ? e.message : String(e), { cause: e });
}

/** the adapter's base_model_name_or_path is informational: compare its last part with the model directory's name */
function sameModelName(baseModel: string, modelDir: string): boolean {
  const last = (p: string) => p.replace(/[\\/]+$/, "").split(/[\\/]/).pop() ?? p;
  return last(baseModel) === last(modelDir);
}
