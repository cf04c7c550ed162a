/**
 * OpenAI protocol: POST /v1/completions, POST /v1/chat/completions (stream or not; `data: [DONE]`
 * closes a stream; `stream_options.include_usage` adds a usage chunk), GET /v1/models.
 * `model` names the adapter; the base model's id, "tgi" (what TGI's client always sends), "" or no
 * model means the base model. Every answer and chunk carries `system_fingerprint` (TGI's schemas
 * and client require it), and every chat delta a role (TGI's client requires it).
 */
import crypto from "node:crypto";
import type { ServerResponse } from "node:http";
import type { DoneEvent, FinishReason } from "../engine/types";
import { HttpError, openaiErrorBody } from "./errors";
import { abortOnClose, startGeneration, type Generation, type OutToken } from "./generation";
import { readJsonBody, sendJson, type Router } from "./http";
import { SseWriter } from "./sse";
import { adapterChatTemplate, renderChat, type ChatMessage } from "./chat-template";
import { chatBodySchema, completionBodySchema, openaiPlan, parseBody, type ChatBody, type CompletionBody, type GenerationPlan } from "./validation";
import type { WorkerState } from "./state";

function finishReason(r: FinishReason): "stop" | "length" {
  return r === "length" ? "length" : "stop";
}

function usage(done: DoneEvent) {
  return { prompt_tokens: done.promptTokens, completion_tokens: done.generatedTokens, total_tokens: done.promptTokens + done.generatedTokens };
}

/**
 * Relays a generation's events as OpenAI stream chunks (completions and chat alike): an opening
 * chunk when given, tokens as
 * `chunk`s when `wanted`, the last one with its finish reason, an optional usage chunk, then
 * `[DONE]`; a cancellation or an error ends the stream with an error body.
 */
async function relayStream(
  sse: SseWriter, g: Generation, signal: AbortSignal,
  opening: object | null,
  chunk: (t: OutToken | null, finish: string | null) => unknown,
  wanted: (t: OutToken) => boolean,
  usageBase: object | null,
): Promise<void> {
  try {
    if (opening) sse.send(opening);
    for await (const ev of g.events) {
      if (signal.aborted) break;
      if (ev.type === "token") {
        if (wanted(ev.token)) sse.send(chunk(ev.token, null));
      } else if (ev.type === "final") {
        if (ev.done.finishReason === "cancelled") {
          if (ev.token) sse.send(chunk(ev.token, null));
          sse.send(openaiErrorBody(cancelledError()));
          break;
        }
        sse.send(chunk(ev.token, finishReason(ev.done.finishReason)));
        if (usageBase) sse.send({ ...usageBase, choices: [], usage: usage(ev.done) });
        sse.sendRaw("[DONE]");
      } else {
        if (ev.token) sse.send(chunk(ev.token, null));
        sse.send(openaiErrorBody(ev.error));
      }
    }
  } finally {
    sse.end();
    await g.close();
  }
}

/** `model` -> adapter id (null = base) */
function adapterFor(state: WorkerState, model: string | null | undefined): string | null {
  if (!model || model === state.options.modelId || model === "tgi") return null;
  return model;
}

/** the worker's build and model: what answers the same request the same way (OpenAI's meaning) */
const fingerprint = (state: WorkerState) => `${state.options.version}-${state.options.modelId}`;

/** a token's share of the text: its own text, or for a special token what it released */
const visibleText = (t: OutToken) => (t.special ? t.released ?? "" : t.text);

const created = () => Math.floor(Date.now() / 1000);
const newId = (prefix: string) => `${prefix}-${crypto.randomBytes(12).toString("hex")}`;

function headers(state: WorkerState, g: Generation): Record<string, string> {
  return { "x-model-id": state.options.modelId, "x-adapter-id": g.adapterId ?? "" };
}

function cancelledError(): HttpError {
  return new HttpError(503, "unavailable", "the worker is shutting down; the generation was cut short");
}

// ---- completions --------------------------------------------------------------------------

interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[] | null;
  text_offset: number[];
}

function completionLogprobs(tokens: OutToken[], withTop: boolean, offset0: number): CompletionLogprobs {
  const lp: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: withTop ? [] : null, text_offset: [] };
  let offset = offset0;
  for (const t of tokens) {
    if (t.special) continue;
    lp.tokens.push(t.text);
    lp.token_logprobs.push(t.logprob);
    lp.text_offset.push(offset);
    offset += t.text.length;
    if (lp.top_logprobs) {
      const top: Record<string, number> = {};
      for (const a of t.alternatives ?? []) if (!(a.text in top)) top[a.text] = a.logprob;
      lp.top_logprobs.push(top);
    }
  }
  return lp;
}

async function completions(state: WorkerState, b: CompletionBody, res: ServerResponse): Promise<void> {
  const limits = { maxNewTokens: state.options.maxNewTokens, maxContext: state.maxContext };
  const logprobs = b.logprobs ?? null;
  const plan: GenerationPlan = { ...openaiPlan(b, b.max_tokens, "max_tokens", logprobs ?? 0, limits), adapterId: adapterFor(state, b.model) };
  const p = Array.isArray(b.prompt) && b.prompt.length === 1 && (typeof b.prompt[0] === "string" || Array.isArray(b.prompt[0])) ? b.prompt[0] : b.prompt;
  const prompt = typeof p === "string" ? { text: p, field: "prompt" } : { ids: p as number[], field: "prompt" };
  const ac = abortOnClose(res);
  const g = await startGeneration(state, plan, prompt, ac.signal, "model");
  const echo = b.echo ? (prompt.text ?? g.engine.decode(g.promptIds, true)) : "";
  const id = newId("cmpl");
  const model = b.model || state.options.modelId;
  const base = { id, object: "text_completion", created: created(), model, system_fingerprint: fingerprint(state) };

  if (!b.stream) {
    const tokens: OutToken[] = [];
    try {
      for await (const ev of g.events) {
        if (ev.token) tokens.push(ev.token);
        if (ev.type === "error") throw ev.error;
        if (ev.type !== "final") continue;
        if (ev.done.finishReason === "cancelled") throw cancelledError();
        sendJson(res, 200, {
          ...base,
          choices: [{ index: 0, text: echo + ev.done.text, logprobs: logprobs === null ? null : completionLogprobs(tokens, logprobs > 0, echo.length), finish_reason: finishReason(ev.done.finishReason) }],
          usage: usage(ev.done),
        }, headers(state, g));
        return;
      }
    } finally {
      await g.close();
    }
    throw new HttpError(424, "internal", "the generation ended without a result");
  }

  const sse = new SseWriter(res, headers(state, g));
  let offset = echo.length;
  const chunk = (t: OutToken | null, finish: string | null) => {
    const text = t ? visibleText(t) : "";
    const lp = logprobs !== null && t && !t.special ? completionLogprobs([t], logprobs > 0, offset) : null;
    offset += text.length;
    return { ...base, choices: [{ index: 0, text, logprobs: lp, finish_reason: finish }] };
  };
  const opening = echo ? { ...base, choices: [{ index: 0, text: echo, logprobs: null, finish_reason: null }] } : null;
  await relayStream(sse, g, ac.signal, opening, chunk, (t) => Boolean(visibleText(t)) || logprobs !== null,
    b.stream_options?.include_usage ? base : null);
}

// ---- chat ---------------------------------------------------------------------------------

function chatMessages(b: ChatBody): ChatMessage[] {
  return b.messages.map((m) => ({
    role: m.role === "developer" ? "system" : m.role,
    content: typeof m.content === "string" ? m.content : (m.content ?? []).map((part) => part.text).join(""),
    ...(m.name ? { name: m.name } : {}),
  }));
}

function chatTokenLogprob(t: OutToken, top: number) {
  const bytes = (s: string) => [...Buffer.from(s, "utf8")];
  return {
    token: t.text,
    logprob: t.logprob,
    bytes: bytes(t.text),
    top_logprobs: (t.alternatives ?? []).slice(0, top).map((a) => ({ token: a.text, logprob: a.logprob, bytes: bytes(a.text) })),
  };
}

async function chat(state: WorkerState, b: ChatBody, res: ServerResponse): Promise<void> {
  const engine = state.ready();
  const limits = { maxNewTokens: state.options.maxNewTokens, maxContext: state.maxContext };
  const top = b.logprobs ? (b.top_logprobs ?? 0) : 0;
  const maxField = b.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens";
  const plan: GenerationPlan = { ...openaiPlan(b, b.max_completion_tokens ?? b.max_tokens, maxField, top, limits), adapterId: adapterFor(state, b.model) };

  // the adapter's own template when its folder has one, else the base model's
  let template = engine.chatTemplate;
  let what = `the model "${state.options.modelId}"`;
  const adapter = plan.adapterId ? engine.listAdapters().find((a) => a.id === plan.adapterId) : undefined;
  if (adapter) {
    const own = await adapterChatTemplate(adapter.path);
    if (own) template = own;
    else what = `adapter "${adapter.id}" (and its base model)`;
  }
  const text = renderChat(template, chatMessages(b), engine.specialTokens, what);
  let ids = engine.encode(text);
  // the template usually writes the BOS token itself; the tokenizer adds one more
  const bos = engine.model.bosTokenId;
  if (bos !== null && ids.length > 1 && ids[0] === bos && ids[1] === bos) ids = ids.slice(1);

  const ac = abortOnClose(res);
  const g = await startGeneration(state, plan, { ids, field: "messages" }, ac.signal, "model");
  const model = b.model || state.options.modelId;

  if (!b.stream) {
    const tokens: OutToken[] = [];
    try {
      for await (const ev of g.events) {
        if (ev.token) tokens.push(ev.token);
        if (ev.type === "error") throw ev.error;
        if (ev.type !== "final") continue;
        if (ev.done.finishReason === "cancelled") throw cancelledError();
        sendJson(res, 200, {
          id: newId("chatcmpl"),
          object: "chat.completion",
          created: created(),
          model,
          system_fingerprint: fingerprint(state),
          choices: [{
            index: 0,
            message: { role: "assistant", content: ev.done.text },
            logprobs: b.logprobs ? { content: tokens.filter((t) => !t.special).map((t) => chatTokenLogprob(t, top)) } : null,
            finish_reason: finishReason(ev.done.finishReason),
          }],
          usage: usage(ev.done),
        }, headers(state, g));
        return;
      }
    } finally {
      await g.close();
    }
    throw new HttpError(424, "internal", "the generation ended without a result");
  }

  const base = { id: newId("chatcmpl"), object: "chat.completion.chunk", created: created(), model, system_fingerprint: fingerprint(state) };
  const sse = new SseWriter(res, headers(state, g));
  const chunk = (t: OutToken | null, finish: string | null) => {
    const visible = t && !t.special ? t : null;
    return {
      ...base,
      choices: [{
        index: 0,
        delta: { role: "assistant", content: t ? visibleText(t) : "" },
        logprobs: b.logprobs && visible ? { content: [chatTokenLogprob(visible, top)] } : null,
        finish_reason: finish,
      }],
    };
  };
  const opening = { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] };
  await relayStream(sse, g, ac.signal, opening, chunk, (t) => Boolean(visibleText(t)) || Boolean(b.logprobs && !t.special),
    b.stream_options?.include_usage ? base : null);
}

export function addOpenAiRoutes(router: Router, state: WorkerState): void {
  const limit = state.options.maxBodyBytes;
  router.add("POST", "/v1/completions", async ({ req, res }) => completions(state, parseBody(completionBodySchema, await readJsonBody(req, limit)), res), "openai");
  router.add("POST", "/v1/chat/completions", async ({ req, res }) => chat(state, parseBody(chatBodySchema, await readJsonBody(req, limit)), res), "openai");
  router.add("GET", "/v1/models", ({ res }) => {
    const engine = state.ready();
    const id = state.options.modelId;
    const t = Math.floor(state.startedAt / 1000);
    sendJson(res, 200, {
      object: "list",
      data: [
        { id, object: "model", created: t, owned_by: "loraland", root: id, parent: null, max_model_len: state.maxContext },
        ...engine.listAdapters().map((a) => ({ id: a.id, object: "model", created: t, owned_by: a.source, root: id, parent: id, state: a.state })),
      ],
    });
  }, "openai");
}
