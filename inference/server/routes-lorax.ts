/**
 * LoRAX / TGI protocol: POST /generate, POST /generate_stream (SSE), POST / (either, by `stream`),
 * POST /tokenize, GET /info, GET /health.
 */
import type { ServerResponse } from "node:http";
import type { DoneEvent } from "../engine/types";
import { HttpError, loraxErrorBody } from "./errors";
import { abortOnClose, checkInputBytes, offLoop, startGeneration, type Generation, type OutToken } from "./generation";
import { tokenSpans, type TokenSpan } from "../tokenizer/token-spans.mjs";
import { readJsonBody, sendJson, type RouteContext, type Router } from "./http";
import { SseWriter } from "./sse";
import { loraxBodySchema, loraxPlan, parseBody, tokenizeBodySchema, type LoraxBody } from "./validation";
import type { WorkerState } from "./state";

interface WireToken {
  id: number;
  text: string;
  logprob: number;
  special: boolean;
  alternative_tokens?: { id: number; text: string; logprob: number }[];
}

function wireToken(t: OutToken): WireToken {
  const w: WireToken = { id: t.id, text: t.text, logprob: t.logprob, special: t.special };
  if (t.alternatives) w.alternative_tokens = t.alternatives.map((a) => ({ id: a.id, text: a.text, logprob: a.logprob }));
  return w;
}

function prefill(g: Generation): { id: number; text: string; logprob: null }[] {
  // prompt log-probabilities are not computed by the engine: ids and texts only
  return g.promptIds.map((id) => ({ id, text: g.engine.decode([id], false), logprob: null }));
}

function details(done: DoneEvent, extra: Record<string, unknown> = {}) {
  return {
    finish_reason: done.finishReason,
    prompt_tokens: done.promptTokens,
    input_length: done.promptTokens,
    generated_tokens: done.generatedTokens,
    seed: done.seed,
    ...extra,
  };
}

function timingHeaders(state: WorkerState, g: Generation, done?: DoneEvent): Record<string, string> {
  const h: Record<string, string> = { "x-model-id": state.options.modelId, "x-adapter-id": g.adapterId ?? "" };
  if (done) {
    h["x-prompt-tokens"] = String(done.promptTokens);
    h["x-generated-tokens"] = String(done.generatedTokens);
    h["x-queue-time"] = String(Math.round(done.timings.queueMs));
    h["x-time-to-first-token"] = String(Math.round(done.timings.ttftMs));
    h["x-total-time"] = String(Math.round(done.timings.totalMs));
    if (done.generatedTokens > 1) h["x-time-per-token"] = String(Math.round((done.timings.totalMs - done.timings.ttftMs) / (done.generatedTokens - 1)));
  }
  return h;
}

async function begin(state: WorkerState, body: LoraxBody, res: ServerResponse): Promise<{ g: Generation; ac: AbortController }> {
  const plan = loraxPlan(body.parameters, { maxNewTokens: state.options.maxNewTokens, maxContext: state.maxContext });
  if (plan.adapterId === state.options.modelId) plan.adapterId = null; // the base model named by its id
  const ac = abortOnClose(res);
  const g = await startGeneration(state, plan, { text: body.inputs, field: "inputs" }, ac.signal, "parameters.adapter_id");
  return { g, ac };
}

async function generate(state: WorkerState, body: LoraxBody, res: ServerResponse): Promise<number> {
  const { g } = await begin(state, body, res);
  const p = body.parameters ?? {};
  const tokens: WireToken[] = [];
  try {
    for await (const ev of g.events) {
      if (ev.token) tokens.push(wireToken(ev.token));
      if (ev.type === "error") throw ev.error;
      if (ev.type !== "final") continue;
      if (ev.done.finishReason === "cancelled") {
        throw new HttpError(503, "unavailable", "the request was cancelled (the worker is shutting down)");
      }
      const extra: Record<string, unknown> = { tokens };
      if (p.decoder_input_details) extra.prefill = prefill(g);
      const text = p.return_full_text ? body.inputs + ev.done.text : ev.done.text;
      const answer = p.details ? { generated_text: text, details: details(ev.done, extra) } : { generated_text: text };
      sendJson(res, 200, answer, timingHeaders(state, g, ev.done));
      return 200;
    }
  } finally {
    await g.close();
  }
  throw new HttpError(424, "internal", "the generation ended without a result");
}

async function generateStream(state: WorkerState, body: LoraxBody, res: ServerResponse): Promise<number> {
  const { g, ac } = await begin(state, body, res);
  const p = body.parameters ?? {};
  const sse = new SseWriter(res, timingHeaders(state, g));
  const tokens: WireToken[] = [];
  let index = 0;
  const tokenEvent = (t: OutToken) => {
    const w = wireToken(t);
    tokens.push(w);
    return { index: ++index, token: w, generated_text: null, details: null };
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
        const extra: Record<string, unknown> = {};
        if (p.details) extra.tokens = tokens.concat(ev.token ? [wireToken(ev.token)] : []);
        if (p.decoder_input_details) extra.prefill = prefill(g);
        const text = p.return_full_text ? body.inputs + ev.done.text : ev.done.text;
        sse.send({ index: ++index, token: ev.token ? wireToken(ev.token) : null, generated_text: text, details: details(ev.done, extra) });
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

export function infoBody(state: WorkerState): Record<string, unknown> {
  const o = state.options;
  const e = state.engine;
  const adapters = e ? e.listAdapters() : [];
  const count = (s: string) => adapters.filter((a) => a.state === s).length;
  return {
    model_id: o.modelId,
    model_sha: null,
    model_dtype: e?.model.storedDtype ?? null,
    compute_dtype: e?.model.computeDtype ?? null,
    model_device_type: "cpu",
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
    uptime_s: Math.round((Date.now() - state.startedAt) / 1000),
    max_input_length: e ? state.maxContext - 1 : null,
    max_total_tokens: e ? state.maxContext : null,
    max_new_tokens: o.maxNewTokens,
    max_concurrent_requests: o.maxRunning + o.maxQueue,
    max_running_requests: o.maxRunning,
    max_queue: o.maxQueue,
    max_queued_tokens: e ? state.maxQueuedTokens : null,
    max_best_of: 1,
    max_stop_sequences: 16,
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

  router.add("POST", "/generate", async ({ req, res }) => void (await generate(state, await body(req), res)));
  router.add("POST", "/generate_stream", async ({ req, res }) => void (await generateStream(state, await body(req), res)));
  router.add("POST", "/", async ({ req, res }) => {
    const b = await body(req);
    if (b.stream) await generateStream(state, b, res);
    else await generate(state, b, res);
  });
  router.add("POST", "/tokenize", async ({ req, res }) => {
    const b = parseBody(tokenizeBodySchema, await readJsonBody(req, limit));
    sendJson(res, 200, await tokenize(state, b.inputs));
  });
  router.add("GET", "/info", ({ res }) => sendJson(res, 200, infoBody(state)));
  router.add("GET", "/health", ({ res }) => {
    if (state.phase === "ready") sendJson(res, 200, { status: "ok", model_id: state.options.modelId });
    else sendJson(res, 503, { status: state.phase, model_id: state.options.modelId, error: state.loadError }, { "retry-after": "2" });
  });
}
