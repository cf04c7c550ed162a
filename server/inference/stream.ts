/**
 * Streaming generation from the worker (ours, LoRAX/TGI, or an OpenAI-compatible server such as
 * vLLM), normalised to one event sequence. SSE is parsed with `eventsource-parser`; aborting the
 * signal aborts the HTTP request, which the worker sees as a disconnect and cancels.
 *
 * - LoRAX/TGI: `POST /generate_stream` `{inputs, parameters}`; each event `{token, generated_text,
 *   details}`, the last one carrying `generated_text` and `details.finish_reason`.
 * - OpenAI: `POST /v1/completions` (`model` = adapter id, or the base model's id) and
 *   `POST /v1/chat/completions` for chat turns; `data: [DONE]` ends the stream.
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import type { GenerationParams } from "../../db/schema/chats";

export type WorkerProtocol = "lorax" | "openai";

export interface WorkerTarget {
  /** e.g. http://127.0.0.1:8081 (no trailing slash needed) */
  baseUrl: string;
  protocol: WorkerProtocol;
  /** the base model's id on an OpenAI server (`model` when no adapter is asked for) */
  baseModelId?: string;
}

export interface ChatTurn {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface StreamRequest {
  /** the exact prompt text (ignored when `messages` is given) */
  prompt: string;
  /** chat mode: the conversation, templated by the worker (`/v1/chat/completions`) */
  messages?: ChatTurn[];
  /** null = base model */
  adapterId: string | null;
  params: GenerationParams;
  /** top alternatives to report per token (0 = none) */
  alternatives?: number;
}

export interface StreamToken {
  type: "token";
  /** token id; -1 when the protocol does not say (OpenAI) */
  id: number;
  text: string;
  logprob: number | null;
  special: boolean;
  alternatives?: { id: number; text: string; logprob: number }[];
}

export interface StreamDone {
  type: "done";
  /** length | eos_token | stop_sequence (OpenAI "stop" maps to eos_token) */
  finishReason: string;
  /** the worker's full text, when it sends one */
  generatedText: string | null;
  promptTokens: number | null;
  generatedTokens: number | null;
  seed: number | null;
}

/** The worker accepted the request: response headers are in. */
export interface StreamAccepted {
  type: "accepted";
  /** the worker's own queue time when it reports one (`x-queue-time` header, ms) */
  workerQueueMs: number | null;
}

export type StreamEvent = StreamAccepted | StreamToken | StreamDone;

/** A failed request, with the worker's HTTP status (0 = unreachable) and error type. */
export class WorkerError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly errorType: string,
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = "WorkerError";
  }
}

/**
 * Node's own fetch. Inside Next's server, `globalThis.fetch` is Next's caching wrapper, which may
 * tee the body into its fetch cache and deliver a stream late and all at once: the worker's
 * tokens would reach the browser in one burst.
 */
function workerFetch(url: string, init: RequestInit): Promise<Response> {
  const f = globalThis.fetch as typeof fetch & { _nextOriginalFetch?: typeof fetch };
  return (f._nextOriginalFetch ?? f)(url, { ...init, cache: "no-store" });
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

function loraxBody(req: StreamRequest) {
  const p = req.params;
  const greedy = !p.temperature || p.temperature <= 0;
  return {
    inputs: req.prompt,
    parameters: {
      adapter_id: req.adapterId ?? undefined,
      max_new_tokens: p.max_new_tokens,
      temperature: greedy ? undefined : p.temperature,
      top_k: p.top_k || undefined,
      top_p: p.top_p !== undefined && p.top_p < 1 ? p.top_p : undefined,
      repetition_penalty: p.repetition_penalty !== undefined && p.repetition_penalty !== 1 ? p.repetition_penalty : undefined,
      do_sample: !greedy,
      seed: p.seed,
      stop: p.stop?.length ? p.stop : undefined,
      ignore_eos_token: p.ignore_eos || undefined,
      details: true,
      return_k_alternatives: req.alternatives || undefined,
    },
  };
}

function openaiBody(req: StreamRequest, target: WorkerTarget) {
  const p = req.params;
  const common = {
    model: req.adapterId ?? target.baseModelId ?? "",
    max_tokens: p.max_new_tokens,
    temperature: p.temperature ?? 0,
    top_p: p.top_p,
    seed: p.seed,
    stop: p.stop?.length ? p.stop : undefined,
    stream: true,
    stream_options: { include_usage: true },
    // vLLM extensions; ignored by servers that do not know them
    top_k: p.top_k || undefined,
    ignore_eos: p.ignore_eos || undefined,
    repetition_penalty: p.repetition_penalty !== undefined && p.repetition_penalty !== 1 ? p.repetition_penalty : undefined,
  };
  if (req.messages) {
    return {
      ...common,
      messages: req.messages,
      logprobs: true,
      top_logprobs: req.alternatives || undefined,
    };
  }
  return { ...common, prompt: req.prompt, logprobs: req.alternatives || 1 };
}

/** Reads the error body of a failed response in either protocol's shape. */
async function workerError(res: Response): Promise<WorkerError> {
  const text = await res.text().catch(() => "");
  let message = text.slice(0, 500) || res.statusText;
  let type = "http_error";
  try {
    const body = JSON.parse(text) as { error?: unknown; error_type?: string };
    if (typeof body.error === "string") {
      message = body.error;
      type = body.error_type ?? type;
    } else if (body.error && typeof body.error === "object") {
      const e = body.error as { message?: string; type?: string; code?: string };
      message = e.message ?? message;
      type = e.code ?? e.type ?? type;
    }
  } catch {
    // not JSON: keep the text
  }
  const retry = Number(res.headers.get("retry-after"));
  return new WorkerError(message, res.status, type, Number.isFinite(retry) && retry > 0 ? retry : null);
}

function openaiFinish(reason: string | null | undefined): string {
  if (reason === "length") return "length";
  if (reason === "stop") return "eos_token";
  return reason ?? "eos_token";
}

/**
 * Streams one generation. Yields `accepted` once, then `token`s in the worker's order, then
 * exactly one `done`; throws `WorkerError` on a worker error (before or during the stream), and
 * the signal's abort reason when aborted.
 */
export async function* streamGeneration(
  target: WorkerTarget,
  req: StreamRequest,
  signal?: AbortSignal,
): AsyncGenerator<StreamEvent, void, undefined> {
  const base = trimSlash(target.baseUrl);
  const chat = !!req.messages;
  const url =
    target.protocol === "lorax" && !chat
      ? `${base}/generate_stream`
      : `${base}/v1/${chat ? "chat/completions" : "completions"}`;
  const body = target.protocol === "lorax" && !chat ? loraxBody(req) : openaiBody(req, target);

  let res: Response;
  try {
    res = await workerFetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (signal?.aborted) throw signal.reason ?? e;
    throw new WorkerError(`the inference worker at ${base} is unreachable (${(e as Error).cause ?? (e as Error).message})`, 0, "unreachable");
  }
  if (!res.ok || !res.body) throw await workerError(res);
  const queue = Number(res.headers.get("x-queue-time"));
  yield { type: "accepted", workerQueueMs: Number.isFinite(queue) && res.headers.has("x-queue-time") ? queue : null };

  const events = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  const reader = events.getReader();
  let done: StreamDone | null = null;
  type Usage = { prompt_tokens?: number; completion_tokens?: number };
  let usage = null as Usage | null;
  try {
    for (;;) {
      let next: ReadableStreamReadResult<{ data: string; event?: string }>;
      try {
        next = await reader.read();
      } catch (e) {
        if (signal?.aborted) throw signal.reason ?? e;
        throw new WorkerError(`the worker connection broke mid-stream (${(e as Error).message})`, 0, "stream_broken");
      }
      if (next.done) break;
      const data = next.value.data;
      if (data === "[DONE]") break;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(data) as Record<string, unknown>;
      } catch {
        throw new WorkerError(`the worker sent an event that is not JSON: ${data.slice(0, 100)}`, 502, "bad_event");
      }
      if (msg.error) {
        const e = msg.error as string | { message?: string; type?: string };
        throw typeof e === "string"
          ? new WorkerError(e, 424, String(msg.error_type ?? "generation"))
          : new WorkerError(e.message ?? "generation failed", 424, e.type ?? "generation");
      }
      if (target.protocol === "lorax" && !chat) {
        const tok = msg.token as
          | { id: number; text: string; logprob: number | null; special: boolean; alternative_tokens?: { id: number; text: string; logprob: number }[] }
          | undefined;
        if (tok) {
          yield {
            type: "token",
            id: tok.id,
            text: tok.text,
            logprob: tok.logprob ?? null,
            special: !!tok.special,
            ...(tok.alternative_tokens ? { alternatives: tok.alternative_tokens } : {}),
          };
        }
        const details = msg.details as
          | { finish_reason?: string; prompt_tokens?: number; generated_tokens?: number; seed?: number | null }
          | null
          | undefined;
        if (details || typeof msg.generated_text === "string") {
          done = {
            type: "done",
            finishReason: details?.finish_reason ?? "eos_token",
            generatedText: (msg.generated_text as string | null) ?? null,
            promptTokens: details?.prompt_tokens ?? null,
            generatedTokens: details?.generated_tokens ?? null,
            seed: details?.seed ?? null,
          };
        }
      } else {
        if (msg.usage) usage = msg.usage as Usage;
        const choice = (msg.choices as Record<string, unknown>[] | undefined)?.[0];
        if (!choice) continue;
        for (const t of openaiTokens(choice, chat)) yield t;
        if (choice.finish_reason) {
          done = { type: "done", finishReason: openaiFinish(choice.finish_reason as string), generatedText: null, promptTokens: null, generatedTokens: null, seed: null };
        }
      }
    }
  } finally {
    reader.releaseLock();
    // stop reading the response (no-op when it already ended)
    await res.body.cancel().catch(() => {});
  }
  if (!done) throw new WorkerError("the worker ended the stream without a final event", 502, "stream_truncated");
  if (usage) {
    done.promptTokens = usage.prompt_tokens ?? done.promptTokens;
    done.generatedTokens = usage.completion_tokens ?? done.generatedTokens;
  }
  yield done;
}

/** Tokens of one OpenAI stream chunk, with logprobs when the server sent them. */
function openaiTokens(choice: Record<string, unknown>, chat: boolean): StreamToken[] {
  if (chat) {
    const delta = (choice.delta ?? {}) as { content?: string | null };
    const lp = (choice.logprobs as { content?: { token: string; logprob: number; top_logprobs?: { token: string; logprob: number }[] }[] } | null)?.content;
    if (lp?.length) {
      return lp.map((c) => ({
        type: "token" as const,
        id: -1,
        text: c.token,
        logprob: c.logprob,
        special: false,
        ...(c.top_logprobs?.length ? { alternatives: c.top_logprobs.map((a) => ({ id: -1, text: a.token, logprob: a.logprob })) } : {}),
      }));
    }
    return delta.content ? [{ type: "token", id: -1, text: delta.content, logprob: null, special: false }] : [];
  }
  const text = (choice.text as string | undefined) ?? "";
  const lp = choice.logprobs as { tokens?: string[]; token_logprobs?: (number | null)[]; top_logprobs?: Record<string, number>[] | null } | null;
  if (lp?.tokens?.length) {
    return lp.tokens.map((t, i) => {
      const top = lp.top_logprobs?.[i];
      const alts = top ? Object.entries(top).map(([text, logprob]) => ({ id: -1, text, logprob })) : [];
      return {
        type: "token" as const,
        id: -1,
        text: t,
        logprob: lp.token_logprobs?.[i] ?? null,
        special: false,
        ...(alts.length > 1 ? { alternatives: alts } : {}),
      };
    });
  }
  return text ? [{ type: "token", id: -1, text, logprob: null, special: false }] : [];
}

/** Token count of a prompt, as the worker's tokenizer sees it (LoRAX/TGI `POST /tokenize`). */
export async function countTokens(target: WorkerTarget, text: string, signal?: AbortSignal): Promise<number> {
  const base = trimSlash(target.baseUrl);
  let res: Response;
  try {
    res = await workerFetch(`${base}/tokenize`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: text }),
      signal,
    });
  } catch (e) {
    throw new WorkerError(`the inference worker at ${base} is unreachable (${(e as Error).message})`, 0, "unreachable");
  }
  if (!res.ok) throw await workerError(res);
  const body = (await res.json()) as unknown;
  if (Array.isArray(body)) return body.length;
  const obj = body as { tokens?: unknown[]; ids?: unknown[]; count?: number };
  if (typeof obj.count === "number") return obj.count;
  return (obj.tokens ?? obj.ids ?? []).length;
}
