/**
 * LoRAX / TGI protocol: POST /generate, POST /generate_stream (SSE), POST / (either, by `stream`),
 * POST /tokenize, GET /info, GET /health.
 */
import type { ServerResponse } from "node:http";
import type { DoneEvent } from "../engine/types";
import { REQUEST_LIMITS } from "../request-limits";
import { HttpError, loraxErrorBody } from "./errors";
import { abortOnClose, checkInputBytes, offLoop, startGeneration, type Generation, type OutToken } from "./generation";
import { tokenSpans, type TokenSpan } from "../tokenizer/token-spans.mjs";
import { readJsonBody, sendJson, type RouteContext, type Router } from "./http";
import { SseWriter } from "./sse";
import { checkBestOf, loraxBodySchema, loraxPlan, parseBody, tokenizeBodySchema, type GenerationPlan, type LoraxBody } from "./validation";
import type { WorkerState } from "./state";

interface WireToken {
  id: number;
  text: string;
  logprob: number;
  special: boolean;
  /** speculative decoding skips tokens; this worker never does (LoRAX's client requires the field) */
  skipped: boolean;
  alternative_tokens?: { id: number; text: string; logprob: number }[];
}

/** what the answer asked for, beyond the generation itself */
interface Shape {
  details: boolean;
  prefill: boolean;
  /** return_k_alternatives: alternatives on every non-special token */
  alternatives: number;
  /** top_n_tokens: `top_tokens` per step */
  topN: number;
  fullText: boolean;
  /** greedy answers report no seed */
  sampled: boolean;
}

function shapeOf(body: LoraxBody, plan: GenerationPlan): Shape {
  const p = body.parameters ?? {};
  return {
    details: p.details === true,
    prefill: p.decoder_input_details === true,
    alternatives: p.return_k_alternatives ?? 0,
    topN: p.top_n_tokens ?? 0,
    fullText: p.return_full_text === true,
    sampled: (plan.sampling.temperature ?? 0) > 0,
  };
}

function wireToken(t: OutToken, shape: Shape): WireToken {
  const w: WireToken = { id: t.id, text: t.text, logprob: t.logprob, special: t.special, skipped: false };
  if (shape.alternatives > 0 && !t.special && t.alternatives) {
    w.alternative_tokens = t.alternatives.slice(0, shape.alternatives).map((a) => ({ id: a.id, text: a.text, logprob: a.logprob }));
  }
  return w;
}

/** TGI's `top_tokens` of one step: the top_n most likely tokens (Token shape) */
function topTokens(g: Generation, t: OutToken, shape: Shape): Omit<WireToken, "alternative_tokens">[] {
  const special = new Set([...(g.engine.model.bosTokenId === null ? [] : [g.engine.model.bosTokenId]), ...g.engine.model.eosTokenIds]);
  return (t.alternatives ?? []).slice(0, shape.topN).map((a) => ({ id: a.id, text: a.text, logprob: a.logprob, special: special.has(a.id), skipped: false }));
}

/** the prompt tokens with the engine's logprobs (the first null: nothing predicts it); [] unless asked */
function prefill(g: Generation, done: DoneEvent, shape: Shape): { id: number; text: string; logprob: number | null }[] {
  if (!shape.prefill) return [];
  return g.promptIds.map((id, i) => ({ id, text: g.engine.decode([id], false), logprob: done.promptLogprobs?.[i] ?? null }));
}

/** one finished sequence as `details` (or a best_of sequence) */
function sequenceDetails(g: Generation, done: DoneEvent, tokens: OutToken[], shape: Shape) {
  return {
    finish_reason: done.finishReason,
    generated_tokens: done.generatedTokens,
    seed: shape.sampled ? done.seed : null,
    prefill: prefill(g, done, shape),
    tokens: tokens.map((t) => wireToken(t, shape)),
    ...(shape.topN > 0 ? { top_tokens: tokens.map((t) => topTokens(g, t, shape)) } : {}),
  };
}

function timingHeaders(state: WorkerState, g: Generation, done?: DoneEvent): Record<string, string> {
  const h: Record<string, string> = { "x-model-id": state.options.modelId, "x-adapter-id": g.adapterId ?? "" };
  const t = done?.timings ?? g.timings;
  if (t) {
    h["x-queue-time"] = String(Math.round(t.queueMs));
    h["x-time-to-first-token"] = String(Math.round(t.ttftMs));
  }
  if (done) {
    h["x-prompt-tokens"] = String(done.promptTokens);
    h["x-generated-tokens"] = String(done.generatedTokens);
    h["x-total-time"] = String(Math.round(done.timings.totalMs));
    if (done.generatedTokens > 1) h["x-time-per-token"] = String(Math.round((done.timings.totalMs - done.timings.ttftMs) / (done.generatedTokens - 1)));
  }
  return h;
}

function planFor(state: WorkerState, body: LoraxBody): GenerationPlan {
  const plan = loraxPlan(body.parameters, { maxNewTokens: state.options.maxNewTokens, maxContext: state.maxContext });
  if (plan.adapterId === state.options.modelId) plan.adapterId = null; // the base model named by its id
  return plan;
}

async function begin(state: WorkerState, body: LoraxBody, plan: GenerationPlan, signal: AbortSignal): Promise<Generation> {
  const prompt = { text: body.inputs, field: "inputs", truncate: body.parameters?.truncate ?? null };
  return startGeneration(state, plan, prompt, signal, "parameters.adapter_id");
}

interface Finished {
  g: Generation;
  done: DoneEvent;
  tokens: OutToken[];
}

/** run one generation to its end */
async function collect(g: Generation): Promise<Finished> {
  const tokens: OutToken[] = [];
  try {
    for await (const ev of g.events) {
      if (ev.token) tokens.push(ev.token);
      if (ev.type === "error") throw ev.error;
      if (ev.type !== "final") continue;
      if (ev.done.finishReason === "cancelled") {
        throw new HttpError(503, "unavailable", "the request was cancelled (the worker is shutting down)");
      }
      return { g, done: ev.done, tokens };
    }
  } finally {
    await g.close();
  }
  throw new HttpError(424, "internal", "the generation ended without a result");
}

/** sum of the generated tokens' logprobs: best_of keeps the most likely sequence, as TGI does */
const score = (f: Finished) => f.tokens.reduce((s, t) => s + t.logprob, 0);

/** the non-streamed answer (`POST /generate`, and the one element of `POST /`'s array) */
async function generate(state: WorkerState, body: LoraxBody, res: ServerResponse): Promise<{ answer: Record<string, unknown>; headers: Record<string, string> }> {
  const plan = planFor(state, body);
  const n = checkBestOf(body.parameters ?? {}, state.options.maxBestOf ?? 1, false);
  const shape = shapeOf(body, plan);
  const ac = abortOnClose(res);
  let results: Finished[];
  if (n === 1) {
    results = [await collect(await begin(state, body, plan, ac.signal))];
  } else {
    // best_of: n sampled sequences side by side (each its own seed), in one batch
    const started = await Promise.allSettled(Array.from({ length: n }, () => begin(state, body, plan, ac.signal)));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) {
      await Promise.all(started.map((r) => (r.status === "fulfilled" ? r.value.close() : undefined)));
      throw failed.reason;
    }
    results = await Promise.all(started.map((r) => collect((r as PromiseFulfilledResult<Generation>).value)));
    results.sort((a, b) => score(b) - score(a));
  }
  const [best, ...others] = results;
  const text = (f: Finished) => (shape.fullText ? body.inputs + f.done.text : f.done.text);
  const answer: Record<string, unknown> = { generated_text: text(best) };
  if (shape.details) {
    answer.details = {
      ...sequenceDetails(best.g, best.done, best.tokens, shape),
      prompt_tokens: best.done.promptTokens,
      input_length: best.done.promptTokens,
      skipped_tokens: 0,
      ...(n > 1 ? { best_of_sequences: others.map((f) => ({ generated_text: text(f), ...sequenceDetails(f.g, f.done, f.tokens, shape) })) } : {}),
    };
  }
  return { answer, headers: timingHeaders(state, best.g, best.done) };
}

async function generateStream(state: WorkerState, body: LoraxBody, res: ServerResponse): Promise<number> {
  const plan = planFor(state, body);
  checkBestOf(body.parameters ?? {}, state.options.maxBestOf ?? 1, true);
  const shape = shapeOf(body, plan);
  const ac = abortOnClose(res);
  const g = await begin(state, body, plan, ac.signal);
  // the generation's first token exists by now: its queue time and TTFT go out as headers
  const sse = new SseWriter(res, timingHeaders(state, g));
  const tokens: OutToken[] = [];
  let index = 0;
  const tokenEvent = (t: OutToken) => {
    tokens.push(t);
    return { index: ++index, token: wireToken(t, shape), ...(shape.topN > 0 ? { top_tokens: topTokens(g, t, shape) } : {}), generated_text: null, details: null };
  };
  try {
    for await (const ev of g.events) {
      if (ac.signal.aborted) break;
      if (ev.type === "token") {
        sse.send(tokenEvent(ev.token));
      } else if (ev.type === "final") {
        if (ev.done.finishReason === "cancelled") {
          // shutting down: what was generated, then an error event as the final one
          if (ev.token) sse.send(tokenEvent(ev.token));
          sse.send({ error: "the worker is shutting down; the generation was cut short", error_type: "unavailable", generated_text: ev.done.text });
          return 503;
        }
        const last = ev.token ? tokenEvent(ev.token) : { index: ++index, token: null };
        const d = ev.done;
        const details: Record<string, unknown> = {
          finish_reason: d.finishReason,
          prompt_tokens: d.promptTokens,
          input_length: d.promptTokens,
          generated_tokens: d.generatedTokens,
          seed: shape.sampled ? d.seed : null,
        };
        // beyond LoRAX's and TGI's StreamDetails (clients ignore unknown fields)
        if (shape.details) details.tokens = tokens.map((t) => wireToken(t, shape));
        if (shape.prefill) details.prefill = prefill(g, d, shape);
        sse.send({ ...last, generated_text: shape.fullText ? body.inputs + d.text : d.text, details });
        return 200;
      } else {
        if (ev.token) sse.send(tokenEvent(ev.token));
        sse.send(loraxErrorBody(ev.error));
        return ev.error.status;
      }
    }
    return ac.signal.aborted ? 499 : 200;
  } finally {
    sse.end();
    await g.close();
  }
}

/** `[{id, text, start, stop, special}]`, bounded like a prompt, long inputs tokenized off the loop */
async function tokenize(state: WorkerState, text: string): Promise<TokenSpan[]> {
  const engine = state.ready();
  const bytes = checkInputBytes(state, text, "inputs");
  const special = [...(engine.model.bosTokenId === null ? [] : [engine.model.bosTokenId]), ...engine.model.eosTokenIds];
  const isSpecial = (id: number) => special.includes(id);
  return offLoop(state, bytes, () => tokenSpans(engine.encode(text), (ids, skip) => engine.decode(ids, skip), isSpecial), () => state.tokenizer.spans(text, special));
}

/** while loading: `stage` (downloading | loading), `progress` 0..1 and `message` ("downloading model.safetensors: 42%") */
function loadProgressBody(state: WorkerState): Record<string, unknown> {
  const p = state.phase === "loading" ? state.loadProgress : null;
  if (!p) return {};
  const pct = p.fraction === null ? "" : `: ${Math.floor(100 * p.fraction)}%`;
  return { stage: p.stage, progress: p.fraction, message: `${p.stage}${p.detail ? ` ${p.detail}` : ""}${pct}` };
}

export function infoBody(state: WorkerState): Record<string, unknown> {
  const o = state.options;
  const e = state.engine;
  const adapters = e ? e.listAdapters() : [];
  const count = (s: string) => adapters.filter((a) => a.state === s).length;
  const kv = e?.limits ?? null;
  const dev = e?.stats().device ?? null;
  return {
    model_id: o.modelId,
    model_sha: null,
    model_dtype: e?.model.storedDtype ?? null,
    compute_dtype: e?.model.computeDtype ?? null,
    // the base weights' format in memory (--dtype / MODEL_DTYPE), why it was chosen, where from
    weight_dtype: e?.model.weights?.dtype ?? null,
    weight_dtype_reason: e?.model.weights?.reason ?? null,
    weight_source: e?.model.weights?.source ?? null,
    weight_bytes: e?.model.weights?.weightBytes ?? null,
    model_device_type: e && /webgpu/i.test(e.model.backend) ? "webgpu" : "cpu",
    // where the engine computes: the GPU adapter and the device memory held (weights, KV, adapters)
    device_adapter: dev?.adapter ?? null,
    device_memory_in_use_bytes: dev?.memoryInUseBytes ?? null,
    device_memory_total_bytes: dev?.memoryTotalBytes ?? null,
    model_pipeline_tag: "text-generation",
    architecture: e?.model.architecture ?? null,
    model_type: e?.model.modelType ?? null,
    parameters: e?.model.parameters ?? null,
    vocab_size: e?.model.vocabSize ?? null,
    backend: e?.model.backend ?? null,
    state: state.phase,
    ready: state.phase === "ready",
    load_error: state.loadError,
    load_ms: state.loadMs,
    loading_for_ms: state.phase === "loading" ? Date.now() - state.startedAt : null,
    load_stage: state.phase === "loading" ? state.loadProgress?.stage ?? null : null,
    load_progress: state.phase === "loading" ? state.loadProgress?.fraction ?? null : null,
    load_message: (loadProgressBody(state).message as string | undefined) ?? null,
    uptime_s: Math.round((Date.now() - state.startedAt) / 1000),
    max_input_length: e ? state.maxContext - 1 : null,
    max_input_tokens: e ? state.maxContext - 1 : null,
    max_total_tokens: e ? state.maxContext : null,
    // the KV cache's capacity in tokens, summed over the running batch (TGI's meaning)
    max_batch_total_tokens: kv ? kv.numBlocks * kv.blockSize : null,
    max_batch_prefill_tokens: kv ? kv.maxBatchTokens : null,
    // no prefill/decode phases: a waiting request joins the very next step whatever the running
    // batch does, so no decode steps are waited for and no waiting/running ratio is needed
    max_waiting_tokens: 0,
    waiting_served_ratio: 0,
    // prompts are tokenized on the event loop, long ones in one tokenizer thread
    validation_workers: 1,
    router: "loraland-worker",
    max_new_tokens: o.maxNewTokens,
    max_concurrent_requests: o.maxRunning + o.maxQueue,
    max_running_requests: o.maxRunning,
    max_queue: o.maxQueue,
    max_queued_tokens: e ? state.maxQueuedTokens : null,
    max_best_of: o.maxBestOf ?? 1,
    max_stop_sequences: REQUEST_LIMITS.stopSequences,
    max_client_batch_size: 1,
    max_body_bytes: o.maxBodyBytes,
    max_input_bytes: e ? state.maxInputBytes : null,
    max_connections: o.maxConnections ?? 512,
    hub_max_repo_bytes: o.hub.maxRepoBytes ?? 2 ** 30,
    hub_max_downloads: o.hub.maxConcurrent ?? 2,
    chat_template: e ? e.chatTemplate !== null : null,
    adapters: { total: adapters.length, resident: count("resident"), host: count("host"), disk: count("disk"), loading: count("loading"), failed: count("failed") },
    adapter_roots: o.roots.list(),
    adapter_sources: ["local", "hub"],
    version: o.version,
    sha: null,
    docker_label: null,
    ...(o.infoExtra ?? {}),
  };
}

export function addLoraxRoutes(router: Router, state: WorkerState): void {
  const limit = state.options.maxBodyBytes;
  const body = async (req: RouteContext["req"]) => parseBody(loraxBodySchema, await readJsonBody(req, limit));

  router.add("POST", "/generate", async ({ req, res }) => {
    const r = await generate(state, await body(req), res);
    sendJson(res, 200, r.answer, r.headers);
  });
  router.add("POST", "/generate_stream", async ({ req, res }) => void (await generateStream(state, await body(req), res)));
  // LoRAX's and TGI's compat route: a stream, or a one-element array (their clients read [0])
  router.add("POST", "/", async ({ req, res }) => {
    const b = await body(req);
    if (b.stream) {
      await generateStream(state, b, res);
      return;
    }
    const r = await generate(state, b, res);
    sendJson(res, 200, [r.answer], r.headers);
  });
  router.add("POST", "/tokenize", async ({ req, res }) => {
    const b = parseBody(tokenizeBodySchema, await readJsonBody(req, limit));
    sendJson(res, 200, await tokenize(state, b.inputs));
  });
  router.add("GET", "/info", ({ res }) => sendJson(res, 200, infoBody(state)));
  router.add("GET", "/health", ({ res }) => {
    if (state.phase === "ready") sendJson(res, 200, { status: "ok", model_id: state.options.modelId });
    else sendJson(res, 503, { status: state.phase, model_id: state.options.modelId, error: state.loadError, ...loadProgressBody(state) }, { "retry-after": "2" });
  });
}
