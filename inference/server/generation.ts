/**
 * One generation as both protocols need it: checks (model ready, adapter, prompt length), a place
 * in the bounded queue, the engine request tied to the client's connection (closing it aborts the
 * request), and the engine's events reshaped for the wire:
 *
 * - every token leaves as soon as the engine produced it; the engine marks the last one, which
 *   travels in the final event (LoRAX's stream format) with the done event that follows it at once;
 * - a special token's own text is its literal string (e.g. "</s>"); text the engine releases at a
 *   special token (held back for an OpenAI stop sequence) is kept in `released`, so the
 *   non-special texts plus the released ones concatenate to generated_text.
 */
import type { ServerResponse } from "node:http";
import type { DoneEvent, EngineApi, EngineEvent, ErrorEvent, TokenAlternative, TokenEvent } from "../engine/types";
import { HttpError, fromEngineEvent } from "./errors";
import { ensureAdapter } from "./adapter-sources";
import { TokenizerBusy, TokenizerThreadUnavailable } from "../tokenizer/encode-thread";
import type { GenerationPlan } from "./validation";
import type { WorkerState } from "./state";

export interface OutToken {
  id: number;
  text: string;
  logprob: number;
  special: boolean;
  alternatives?: TokenAlternative[];
  /** text of the generation that arrived with a special token (see above) */
  released?: string;
  /** first token only: the engine's queue time and time to this token, ms */
  timings?: { queueMs: number; ttftMs: number };
}

export type OutEvent =
  | { type: "token"; token: OutToken }
  | { type: "final"; token: OutToken | null; done: DoneEvent }
  | { type: "error"; token: OutToken | null; error: HttpError };

export interface Generation {
  engine: EngineApi;
  promptIds: number[];
  adapterId: string | null;
  /** the events (errors before the first token were thrown by startGeneration instead) */
  events: AsyncGenerator<OutEvent>;
  /** the engine's queue time and TTFT, known once the first token exists (startGeneration waits for it) */
  timings: { queueMs: number; ttftMs: number } | null;
  /** give the queue place back and stop the engine request (idempotent; also done when `events` ends) */
  close(): Promise<void>;
}

export interface PromptInput {
  text?: string;
  ids?: number[];
  /** field to name when the prompt is at fault */
  field: string;
  /** keep only the last N prompt tokens (TGI/LoRAX `truncate`) */
  truncate?: number | null;
}

/** an engine error's field on the wire: merged_adapters.* under the route's prefix; the others by code (errors.ts) */
function wireField(engineField: string | undefined, mergedField: string): string | undefined {
  return engineField?.startsWith("merged_adapters") ? mergedField + engineField.slice("merged_adapters".length) : undefined;
}

/** an engine token as the wire needs it */
function outToken(engine: EngineApi, ev: TokenEvent): OutToken {
  const out: OutToken = { id: ev.id, text: ev.text, logprob: ev.logprob, special: ev.special };
  if (ev.alternatives) out.alternatives = ev.alternatives;
  if (ev.timings) out.timings = ev.timings;
  if (ev.special) {
    out.text = engine.decode([ev.id], false);
    if (ev.text) out.released = ev.text;
  }
  return out;
}

/**
 * The engine's events reshaped (one generator over the engine's queue, so a token costs one
 * async hop here): the last token is held only until its done event, which the same step pushed.
 */
async function* reshape(engine: EngineApi, it: AsyncIterator<EngineEvent>, first: IteratorResult<EngineEvent>, mergedField: string,
  onFinal: (done: DoneEvent) => void, cleanup: () => Promise<void>): AsyncGenerator<OutEvent> {
  let held: OutToken | null = null;
  try {
    for (let r = first; !r.done; r = await it.next()) {
      const ev = r.value;
      if (ev.type === "token") {
        const out = outToken(engine, ev);
        if (ev.last) held = out;
        else yield { type: "token", token: out };
      } else if (ev.type === "done") {
        onFinal(ev);
        yield { type: "final", token: held, done: ev };
        return;
      } else {
        yield { type: "error", token: held, error: engineError(ev, mergedField) };
        return;
      }
    }
    yield { type: "error", token: held, error: new HttpError(424, "internal", "the engine ended the request without a final event") };
  } finally {
    await cleanup();
  }
}

function engineError(ev: ErrorEvent, mergedField: string): HttpError {
  const field = wireField(ev.field, mergedField);
  const message = field ? `${field}: ${ev.message.replace(/^merged_adapters[.\w]*: /, "")}` : ev.message;
  return fromEngineEvent(ev.code, message, field);
}

/** Abort when the client goes away before we finished answering. */
export function abortOnClose(res: ServerResponse): AbortController {
  const ac = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) ac.abort(new Error("client disconnected"));
  });
  return ac;
}

/** prompts up to this many UTF-8 bytes are tokenized on the event loop (a few ms); longer ones in the tokenizer thread */
export const INLINE_TOKENIZE_BYTES = 2048;

/** 422 naming `field` when `text` has more bytes than could fit in the context (checked before tokenizing). */
export function checkInputBytes(state: WorkerState, text: string, field: string): number {
  const bytes = Buffer.byteLength(text);
  const limit = state.maxInputBytes;
  if (bytes > limit) {
    throw new HttpError(422, "prompt_too_long", `${field}: the prompt has ${bytes} bytes; at most ${limit} bytes can fit in this worker's context of ${state.maxContext} tokens, so it was not tokenized`, { field });
  }
  return bytes;
}

/**
 * Run `inThread` for long inputs, `inline` for short ones or where no tokenizer thread can run;
 * 429 when the thread's queue is full.
 */
export async function offLoop<T>(state: WorkerState, bytes: number, inline: () => T, inThread: () => Promise<T>): Promise<T> {
  if (bytes <= INLINE_TOKENIZE_BYTES) return inline();
  try {
    const r = await inThread();
    state.metrics.tokenizedOffLoop.inc();
    return r;
  } catch (e) {
    if (e instanceof TokenizerThreadUnavailable) return inline();
    if (e instanceof TokenizerBusy) {
      state.metrics.rejected.inc({ reason: "tokenizer_busy" });
      throw new HttpError(429, "overloaded", `the worker is tokenizing other long prompts (${e.message}); retry after 1s`, { retryAfter: 1 });
    }
    throw e;
  }
}

/** the prompt's ids: bounded by bytes first, then tokenized (off the event loop when long) */
export async function encodePrompt(state: WorkerState, engine: EngineApi, text: string, field: string): Promise<number[]> {
  const bytes = checkInputBytes(state, text, field);
  return offLoop(state, bytes, () => engine.encode(text), () => state.tokenizer.encode(text));
}

export async function startGeneration(state: WorkerState, plan: GenerationPlan, prompt: PromptInput, signal: AbortSignal, adapterField: string): Promise<Generation> {
  const engine = state.ready();
  const adapterId = await ensureAdapter(state, plan.adapterId, plan.adapterSource, plan.apiToken, adapterField);
  const mergedField = adapterField.replace(/adapter_id$/, "merged_adapters");
  // each merged adapter is registered (or fetched by adapter_source) as adapter_id would be
  for (const id of plan.mergedAdapters?.ids ?? []) await ensureAdapter(state, id, plan.adapterSource, plan.apiToken, `${mergedField}.ids`);

  let promptIds = prompt.ids ?? (await encodePrompt(state, engine, prompt.text ?? "", prompt.field));
  if (prompt.truncate && promptIds.length > prompt.truncate) promptIds = promptIds.slice(promptIds.length - prompt.truncate);
  if (promptIds.length === 0) throw new HttpError(422, "invalid_request", `${prompt.field}: the prompt has no tokens`, { field: prompt.field });
  const vocab = engine.model.vocabSize;
  if (prompt.ids && prompt.ids.some((id) => id >= vocab)) {
    throw new HttpError(422, "invalid_request", `${prompt.field}: token ids must be below the vocabulary size ${vocab}`, { field: prompt.field });
  }
  const maxContext = state.maxContext;
  if (promptIds.length >= maxContext) {
    throw new HttpError(422, "prompt_too_long", `${prompt.field}: the prompt has ${promptIds.length} tokens; this worker serves at most ${maxContext} tokens per request (prompt + generated), so the prompt must be shorter than ${maxContext}`, { field: prompt.field });
  }

  const release = state.admit(promptIds.length + plan.maxNewTokens);
  let source: AsyncIterable<EngineEvent>;
  try {
    source = engine.generate({
      promptIds,
      adapterId,
      mergedAdapters: plan.mergedAdapters,
      maxNewTokens: plan.maxNewTokens,
      sampling: plan.sampling,
      stop: plan.stop.length ? plan.stop : undefined,
      stopInclusive: plan.stopInclusive,
      promptLogprobs: plan.promptLogprobs,
      responseFormat: plan.responseFormat ?? undefined,
      ignoreEos: plan.ignoreEos,
      topAlternatives: plan.topAlternatives,
      signal,
    });
  } catch (e) {
    release();
    throw e;
  }
  const metrics = state.metrics;
  const it = source[Symbol.asyncIterator]();
  const close = async () => {
    release();
    await it.return?.(undefined);
  };
  const onFinal = (d: DoneEvent) => {
    metrics.recordGeneration(d);
    metrics.batchTokens.observe(engine.stats().lastBatchTokens);
    if (d.finishReason === "cancelled" && signal.aborted) metrics.cancelled.inc();
    state.log("generation", { adapter: adapterId, prompt_tokens: d.promptTokens, generated_tokens: d.generatedTokens, finish_reason: d.finishReason, queue_ms: d.timings.queueMs, ttft_ms: d.timings.ttftMs, total_ms: d.timings.totalMs });
  };
  // the first event decides: an error before any token is thrown (the route answers it with a status)
  let first: IteratorResult<EngineEvent>;
  try {
    first = await it.next();
  } catch (e) {
    await close();
    throw e;
  }
  if (!first.done && first.value.type === "error") {
    await close();
    throw engineError(first.value, mergedField);
  }
  const ev0 = first.done ? null : first.value;
  const timings = ev0?.type === "done" ? ev0.timings : ev0?.type === "token" ? ev0.timings ?? null : null;
  return { engine, promptIds, adapterId, events: reshape(engine, it, first, mergedField, onFinal, close), close, timings };
}
