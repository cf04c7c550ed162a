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
import type { z } from "zod";
import type { GenerationParams } from "../../db/schema/chats";
import type { MergedAdapters } from "../../components/compare/merged-recipe";
import { DEFAULT_IDLE_TIMEOUT_MS, fetchFailure, requestJson, trimSlash, workerFetch, type WorkerTarget } from "./client";
import { chatChunkSchema, completionChunkSchema, describeIssue, errorFromResponse, loraxStreamEventSchema, streamErrorSchema, tokenizeSchema, WorkerError } from "./wire";

export { WorkerError } from "./wire";
export type { WorkerTarget } from "./client";
export type WorkerProtocol = WorkerTarget["protocol"];

export interface ChatTurn {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface StreamRequest {
  /** the exact prompt text (ignored when `messages` is given) */
  prompt: string;
  /** chat mode: the conversation, templated by the worker (`/v1/chat/completions`) */
  messages?: ChatTurn[];
  /** null = base model (or the merge below) */
  adapterId: string | null;
  /** LoRAX's merged_adapters: this merge instead of one adapter (LoRAX protocol only) */
  mergedAdapters?: MergedAdapters;
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

function loraxBody(req: StreamRequest) {
  const p = req.params;
  const greedy = !p.temperature || p.temperature <= 0;
  return {
    inputs: req.prompt,
    parameters: {
      adapter_id: req.adapterId ?? undefined,
      merged_adapters: req.mergedAdapters,
      response_format: p.response_format,
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
  // OpenAI's API has no merge; a server would ignore the field and answer from the base model
  if (req.mergedAdapters) throw new WorkerError("merged adapters need the LoRAX protocol (INFERENCE_PROTOCOL=lorax, and not chat mode)", 400, "merged_adapters_unsupported");
  const rf = p.response_format;
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
    response_format: !rf ? undefined : rf.schema ? { type: "json_schema", json_schema: { name: "output", schema: rf.schema } } : { type: "json_object" },
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

function openaiFinish(reason: string | null | undefined): string {
  if (reason === "length") return "length";
  if (reason === "stop") return "eos_token";
  return reason ?? "eos_token";
}

/** An event's JSON, or a WorkerError (502 bad_event) naming what is wrong with it. */
function parseEvent<T extends z.ZodType>(schema: T, msg: unknown, data: string): z.infer<T> {
  const r = schema.safeParse(msg);
  if (!r.success) throw new WorkerError(`the worker sent a malformed event (${describeIssue(r.error)}): ${data.slice(0, 100)}`, 502, "bad_event");
  return r.data;
}

/**
 * Streams one generation. Yields `accepted` once, then `token`s in the worker's order, then
 * exactly one `done`; throws `WorkerError` on a worker error (before or during the stream, a
 * malformed event, or no byte for the target's idle timeout), and the signal's abort reason when
 * aborted.
 */
export async function* streamGeneration(
  target: WorkerTarget,
  req: StreamRequest,
  signal?: AbortSignal,
): AsyncGenerator<StreamEvent, void, undefined> {
  const base = trimSlash(target.baseUrl);
  const chat = !!req.messages;
  const lorax = target.protocol === "lorax" && !chat;
  const url = lorax ? `${base}/generate_stream` : `${base}/v1/${chat ? "chat/completions" : "completions"}`;
  const body = lorax ? loraxBody(req) : openaiBody(req, target);

  // the request's own signal: the caller's abort, or the worker's silence, ends it
  const idleMs = target.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const own = new AbortController();
  const forward = () => own.abort(signal?.reason);
  if (signal?.aborted) forward();
  signal?.addEventListener("abort", forward, { once: true });
  const silent = new WorkerError(
    `the worker sent nothing for ${idleMs / 1000} s, so the generation was ended (WORKER_IDLE_TIMEOUT_S)`,
    504,
    "worker_timeout",
  );
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  // armed only while we wait on the worker (not while the consumer holds a yielded event)
  let waiting = false;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      own.abort(silent);
    }, idleMs);
  };
  const disarm = () => clearTimeout(timer);
  const failure = (e: unknown, otherwise: () => WorkerError) => {
    if (timedOut) return silent;
    if (signal?.aborted) return signal.reason ?? e;
    return otherwise();
  };

  try {
    let res: Response;
    arm();
    try {
      res = await workerFetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify(body),
        signal: own.signal,
      });
    } catch (e) {
      throw failure(e, () => new WorkerError(`the inference worker at ${base} is unreachable (${fetchFailure(e)})`, 0, "unreachable"));
    } finally {
      disarm();
    }
    if (!res.ok || !res.body) throw await errorFromResponse(res);
    const queue = Number(res.headers.get("x-queue-time"));
    yield { type: "accepted", workerQueueMs: Number.isFinite(queue) && res.headers.has("x-queue-time") ? queue : null };

    // any byte (a keep-alive comment too) shows the worker is alive
    const decoder = new TextDecoder();
    const watch = new TransformStream<Uint8Array, string>({
      transform(chunk, out) {
        if (waiting) arm();
        out.enqueue(decoder.decode(chunk, { stream: true }));
      },
      flush(out) {
        const rest = decoder.decode();
        if (rest) out.enqueue(rest);
      },
    });
    const events = res.body.pipeThrough(watch).pipeThrough(new EventSourceParserStream());
    const reader = events.getReader();
    let done: StreamDone | null = null;
    let usage: { prompt_tokens?: number | null; completion_tokens?: number | null } | null = null;
    try {
      for (;;) {
        let next: ReadableStreamReadResult<{ data: string; event?: string }>;
        waiting = true;
        arm();
        try {
          next = await reader.read();
        } catch (e) {
          throw failure(e, () => new WorkerError(`the worker connection broke mid-stream (${fetchFailure(e)})`, 0, "stream_broken"));
        } finally {
          waiting = false;
          disarm();
        }
        if (next.done) break;
        const data = next.value.data;
        if (data === "[DONE]") break;
        let msg: unknown;
        try {
          msg = JSON.parse(data);
        } catch {
          throw new WorkerError(`the worker sent an event that is not JSON: ${data.slice(0, 100)}`, 502, "bad_event");
        }
        if (msg && typeof msg === "object" && "error" in msg && (msg as { error: unknown }).error) {
          const e = parseEvent(streamErrorSchema, msg, data);
          throw "error_type" in e || typeof e.error === "string"
            ? new WorkerError(String(e.error), 424, ("error_type" in e && e.error_type) || "generation")
            : new WorkerError(e.error.message ?? "generation failed", 424, e.error.type ?? "generation");
        }
        if (lorax) {
          // LoRAX/TGI: the event with details is the last (OpenAI sends a usage chunk after its finish)
          if (done) throw new WorkerError(`the worker sent an event after its final one: ${data.slice(0, 100)}`, 502, "bad_event");
          const ev = parseEvent(loraxStreamEventSchema, msg, data);
          const tok = ev.token;
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
          if (ev.details || typeof ev.generated_text === "string") {
            if (!ev.details) throw new WorkerError(`the worker's final event has no details.finish_reason: ${data.slice(0, 100)}`, 502, "bad_event");
            done = {
              type: "done",
              finishReason: ev.details.finish_reason,
              generatedText: ev.generated_text ?? null,
              promptTokens: ev.details.prompt_tokens ?? ev.details.input_length ?? null,
              generatedTokens: ev.details.generated_tokens ?? null,
              seed: ev.details.seed ?? null,
            };
          }
        } else {
          const chunk = chat ? parseEvent(chatChunkSchema, msg, data) : parseEvent(completionChunkSchema, msg, data);
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices[0];
          if (!choice) continue;
          for (const t of chat ? chatTokens(choice as ChatChoice) : completionTokens(choice as CompletionChoice)) yield t;
          if (choice.finish_reason) {
            done = { type: "done", finishReason: openaiFinish(choice.finish_reason), generatedText: null, promptTokens: null, generatedTokens: null, seed: null };
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
  } finally {
    disarm();
    signal?.removeEventListener("abort", forward);
  }
}

type ChatChoice = z.infer<typeof chatChunkSchema>["choices"][number];
type CompletionChoice = z.infer<typeof completionChunkSchema>["choices"][number];

/** Tokens of one OpenAI chat chunk, with logprobs when the server sent them. */
function chatTokens(choice: ChatChoice): StreamToken[] {
  const lp = choice.logprobs?.content;
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
  const content = choice.delta?.content;
  return content ? [{ type: "token", id: -1, text: content, logprob: null, special: false }] : [];
}

/** Tokens of one OpenAI completion chunk, with logprobs when the server sent them. */
function completionTokens(choice: CompletionChoice): StreamToken[] {
  const text = choice.text ?? "";
  const lp = choice.logprobs;
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

/** Token count of a prompt, as the worker's tokenizer sees it (LoRAX/TGI `POST /tokenize`); a silent worker is a 504 after the target's idle timeout. */
export async function countTokens(target: WorkerTarget, text: string, signal?: AbortSignal): Promise<number> {
  return requestJson(`${trimSlash(target.baseUrl)}/tokenize`, tokenizeSchema, { method: "POST", body: JSON.stringify({ inputs: text }), signal, idleTimeoutMs: target.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS });
}
