/**
 * The engine's public contract: what the HTTP server (inference/server), the CLI, the benchmark
 * and the eval harness use. Everything behind it (scheduler, KV blocks, adapter slots) is owned
 * by the engine loop.
 */
import type { WeightLoadInfo } from "../model/weights";
import type { Backend } from "../kernels/backend";
import type { MergeStrategy } from "../adapters/merge";

/** LoRAX's `merged_adapters`: registered adapters merged for this request (adapters/merge.ts) */
export interface MergedAdapters {
  ids: string[];
  /** one per id (default: all 1) */
  weights?: number[];
  /** default "linear" */
  strategy?: MergeStrategy;
  /** ties / dare: fraction of values kept, in (0, 1] */
  density?: number;
  /** ties / dare_ties (default "total") */
  majoritySignMethod?: "total" | "frequency";
}

export interface SamplingParams {
  /** 0 or undefined: greedy */
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  /** typical decoding mass in (0, 1] (Meister et al. 2022, as HF's TypicalLogitsWarper); 1 or undefined = off */
  typicalP?: number;
  /** makes sampling reproducible; when absent a random seed is drawn and reported back */
  seed?: number;
}

export interface GenerateRequest {
  /** already tokenized prompt (with BOS as the tokenizer adds it); or give `prompt` */
  promptIds?: number[];
  /** raw text, tokenized by the engine's tokenizer with its special tokens */
  prompt?: string;
  /** adapter id as registered, null/undefined = base model */
  adapterId?: string | null;
  /** instead of adapterId: a merge of registered adapters, cached by its recipe */
  mergedAdapters?: MergedAdapters | null;
  maxNewTokens: number;
  sampling?: SamplingParams;
  /** stop sequences matched on the decoded text, across token boundaries */
  stop?: string[];
  /**
   * false (default, OpenAI): the text ends before the matched stop sequence (text that may start
   * one is held back until it is decided). true (LoRAX/TGI): nothing is held back, every token
   * carries its own text, and the text ends with the token that completed the stop sequence.
   */
  stopInclusive?: boolean;
  /**
   * structured output (engine/json-constraint.ts): "json_object" constrains decoding to one JSON
   * object; `{ schema }` to a document of that JSON schema (the supported subset; others are an
   * "invalid_request" error whose field leads to the keyword)
   */
  responseFormat?: "json_object" | { schema: unknown };
  /** also compute the log-probability of every prompt token but the first (DoneEvent.promptLogprobs) */
  promptLogprobs?: boolean;
  /** keep generating past EOS */
  ignoreEos?: boolean;
  /** number of top alternatives (with logprobs) to report per generated token, 0 = none */
  topAlternatives?: number;
  /** aborting cancels the request; its KV blocks are freed within one step */
  signal?: AbortSignal;
}

export interface TokenAlternative {
  id: number;
  text: string;
  logprob: number;
}

export interface TokenEvent {
  type: "token";
  id: number;
  /** text this token adds to the output (streaming detokenizer; may be "" while a UTF-8 char is incomplete) */
  text: string;
  logprob: number;
  special: boolean;
  alternatives?: TokenAlternative[];
  /** true on the request's last token: its "done" event follows at once (same step) */
  last?: boolean;
  /** on the first token only: ms from arrival to the first step that scheduled it, and to this token */
  timings?: { queueMs: number; ttftMs: number };
}

export type FinishReason = "length" | "eos_token" | "stop_sequence" | "cancelled";

export interface DoneEvent {
  type: "done";
  finishReason: FinishReason;
  /** full generated text (the concatenation of the non-special token texts, truncated at a stop sequence) */
  text: string;
  /** generated ids (including the EOS id when generation stopped on it) */
  ids: number[];
  promptTokens: number;
  generatedTokens: number;
  seed: number;
  timings: { queueMs: number; ttftMs: number; totalMs: number };
  /** with GenerateRequest.promptLogprobs: one per prompt token, the first null (nothing predicts it) */
  promptLogprobs?: (number | null)[];
}

export interface ErrorEvent {
  type: "error";
  /** e.g. "adapter_not_found", "adapter_invalid", "prompt_too_long", "overloaded", "internal" */
  code: string;
  message: string;
  /** the request field at fault, in the engine's names (`merged_adapters.density`), when one is */
  field?: string;
}

export type EngineEvent = TokenEvent | DoneEvent | ErrorEvent;

export type AdapterState = "disk" | "loading" | "host" | "resident" | "failed";

export interface AdapterInfo {
  id: string;
  source: "local" | "hub" | "upload";
  path: string;
  rank: number | null;
  targetModules: string[];
  bytes: number | null;
  state: AdapterState;
  error?: string;
  baseModel?: string | null;
}

export interface EngineStats {
  running: number;
  waiting: number;
  kvBlocksUsed: number;
  kvBlocksTotal: number;
  residentAdapters: number;
  lastBatchTokens: number;
  tokensGenerated: number;
  promptTokensProcessed: number;
  steps: number;
  /** sequences preempted (blocks freed, recomputed later) since start */
  preemptions: number;
  /** adapter loads started since start (from disk) */
  adapterLoads: number;
  /** where the engine computes; adapter and memory for device backends (null on the CPU) */
  device?: { type: "cpu" | "webgpu"; adapter: string | null; memoryInUseBytes: number | null; memoryTotalBytes: number | null };
}

export interface EngineOptions {
  modelDir: string;
  /** "native" (default, C++ addon), "reference" (TypeScript loops, slow; tests), or a backend object (WebGPU: see inference/webgpu/select.ts) */
  backend?: "native" | "reference" | Backend<unknown, unknown, unknown>;
  /** KV cache: tokens per block and number of blocks (default: sized from maxContext and memory) */
  blockSize?: number;
  numBlocks?: number;
  /** max tokens in one forward pass (prefill chunks + decodes) */
  maxBatchTokens?: number;
  /** max concurrently running sequences */
  maxRunning?: number;
  /** adapter slots resident at once, and their byte budget */
  adapterSlots?: number;
  adapterBudgetBytes?: number;
  /** host-memory tier for evicted adapters, in bytes (0 = drop evicted adapters) */
  hostCacheBytes?: number;
  /** max prompt + generated tokens of one request (default: config max_position_embeddings) */
  maxContext?: number;
}

export interface ModelSummary {
  /** architecture from config.json, e.g. "MistralForCausalLM" */
  architecture: string;
  modelType: string;
  /** dtype the weights were stored in ("float32" | "float16" | "bfloat16") and compute dtype */
  storedDtype: string;
  computeDtype: "float32";
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
  parameters: number;
  backend: string;
  /** the base weights' format in memory, why it was chosen and where they come from (model/weights.ts) */
  weights?: WeightLoadInfo | null;
}

/** What the worker needs from the engine. Implemented by `Engine` in engine/engine.ts. */
export interface EngineApi {
  readonly model: ModelSummary;
  /** encode with the tokenizer's own special tokens (as transformers' tokenizer(text) does) */
  encode(text: string): number[];
  decode(ids: number[], skipSpecial?: boolean): string;
  /** the KV pool and batching limits in use (Engine has them; test doubles may not) */
  readonly limits?: { blockSize: number; numBlocks: number; maxBatchTokens: number; maxRunning: number; maxContext: number };
  /** chat template from tokenizer_config.json, null when there is none */
  readonly chatTemplate: string | null;
  /** special token strings for templates */
  readonly specialTokens: { bos: string | null; eos: string | null };
  /**
   * Start a request. Validation problems (unknown adapter, prompt too long) surface as an
   * "error" event before any token. The iterator ends after a "done" or "error" event.
   */
  generate(req: GenerateRequest): AsyncIterable<EngineEvent>;
  /** register (or replace) an adapter directory under an id; validated lazily on first load unless validate=true */
  registerAdapter(id: string, dir: string, source: AdapterInfo["source"], opts?: { validate?: boolean }): Promise<AdapterInfo>;
  unregisterAdapter(id: string): boolean;
  listAdapters(): AdapterInfo[];
  /** load an adapter into a slot ahead of use */
  preloadAdapter(id: string): Promise<void>;
  stats(): EngineStats;
  /** stop the loop: in-flight requests finish with finishReason "cancelled" */
  shutdown(): Promise<void>;
}
