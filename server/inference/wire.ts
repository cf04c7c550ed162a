/**
 * Every answer the web server takes from a worker (ours, LoRAX/TGI, or an OpenAI-compatible
 * server such as vLLM), as zod schemas: JSON bodies, SSE events, error bodies. Unknown fields are
 * ignored (servers add their own); a field we use with the wrong type is a malformed answer, which
 * the client (client.ts, stream.ts) turns into a WorkerError, never into a result.
 */
import { z } from "zod";
import { LoraLandError, type ErrorCode } from "../errors";

export type InferenceProtocol = "lorax" | "openai";

/** A worker request that failed: the worker's HTTP status (0 = unreachable) and its error type. */
export class WorkerError extends LoraLandError {
  constructor(
    message: string,
    readonly status: number,
    readonly errorType: string,
    retryAfterS: number | null = null,
  ) {
    super(codeForStatus(status), message, { retryAfterS });
    this.name = "WorkerError";
  }
}

/** The status the web server answers with when a worker request failed with `status`. */
function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return "BAD_REQUEST";
    case 404:
      return "NOT_FOUND";
    case 413:
      return "PAYLOAD_TOO_LARGE";
    case 422:
      return "UNPROCESSABLE_CONTENT";
    case 429:
      return "TOO_MANY_REQUESTS";
    case 0:
    case 503:
      return "SERVICE_UNAVAILABLE";
    case 504:
      return "GATEWAY_TIMEOUT";
    default:
      return "BAD_GATEWAY"; // the worker failed or answered something we cannot use
  }
}

// ── error bodies ──────────────────────────────────────────────────────────────────────────────
/** LoRAX/TGI `{error, error_type}`; OpenAI `{error: {message, type, code}}`; older vLLM `{object: "error", message, type}`. */
const errorBodySchema = z.union([
  z.object({ error: z.string(), error_type: z.string().nullish() }),
  z.object({ error: z.object({ message: z.string(), type: z.string().nullish(), code: z.union([z.string(), z.number()]).nullish() }) }),
  z.object({ object: z.literal("error"), message: z.string(), type: z.string().nullish() }),
]);

/** The message and type of an error body in any of the shapes above; the text itself otherwise. */
export function parseErrorBody(text: string, fallback: string): { message: string; type: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { message: text.slice(0, 500) || fallback, type: "http_error" };
  }
  const r = errorBodySchema.safeParse(json);
  if (!r.success) return { message: text.slice(0, 500) || fallback, type: "http_error" };
  const b = r.data;
  if ("object" in b) return { message: b.message, type: b.type ?? "http_error" };
  if (typeof b.error === "string") return { message: b.error, type: ("error_type" in b && b.error_type) || "http_error" };
  const code = b.error.code;
  return { message: b.error.message, type: (typeof code === "string" && code) || b.error.type || "http_error" };
}

/** A failed response as a WorkerError (its body read and parsed, Retry-After kept). */
export async function errorFromResponse(res: Response): Promise<WorkerError> {
  const text = await res.text().catch(() => "");
  const { message, type } = parseErrorBody(text, res.statusText || `HTTP ${res.status}`);
  const retry = Number(res.headers.get("retry-after"));
  return new WorkerError(message, res.status, type, Number.isFinite(retry) && retry > 0 ? retry : null);
}

/** Why a body did not match: the first issue, with its path, for the error message. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "malformed";
  const where = issue.path.map(String).join(".");
  return where ? `${where}: ${issue.message}` : issue.message;
}

// ── status and metadata ───────────────────────────────────────────────────────────────────────
const count = z.number().int().min(0);

/** /info (LoRAX/TGI and ours): the base model and the limits the web checks before sending. */
export const infoSchema = z.looseObject({
  model_id: z.string().nullish(),
  max_new_tokens: count.nullish(),
  max_stop_sequences: count.nullish(),
  max_input_bytes: count.nullish(),
});

export type WorkerInfo = z.infer<typeof infoSchema>;

const adapterSchema = z
  .looseObject({
    id: z.string().nullish(),
    adapter_id: z.string().nullish(),
    state: z.string().nullish(),
    source: z.string().nullish(),
    rank: z.number().nullish(),
    bytes: z.number().nullish(),
    error: z.string().nullish(),
  })
  .transform((a) => ({ id: a.id ?? a.adapter_id ?? "", state: a.state ?? null, source: a.source ?? null, rank: a.rank ?? null, bytes: a.bytes ?? null, error: a.error ?? null }));

/** GET /adapters: ours `{model_id, adapters: [...]}`; a bare list or `{data: [...]}` elsewhere. */
export const adapterListSchema = z
  .union([z.array(adapterSchema), z.object({ adapters: z.array(adapterSchema) }), z.object({ data: z.array(adapterSchema) })])
  .transform((b) => (Array.isArray(b) ? b : "adapters" in b ? b.adapters : b.data).filter((a) => a.id));

/** GET /v1/models */
export const modelListSchema = z.object({
  data: z.array(z.object({ id: z.string(), parent: z.string().nullish(), root: z.string().nullish() })),
});

/** POST /tokenize: ours/TGI answer a list of tokens; others `{tokens}`, `{ids}` or `{count}`. */
export const tokenizeSchema = z
  .union([z.array(z.unknown()), z.object({ count: count }), z.object({ tokens: z.array(z.unknown()) }), z.object({ ids: z.array(z.unknown()) })])
  .transform((b) => (Array.isArray(b) ? b.length : "count" in b ? b.count : "tokens" in b ? b.tokens.length : b.ids.length));

/** POST /adapters (ours): the registered adapter. */
export const registeredAdapterSchema = z.looseObject({ id: z.string() });

// ── one-shot generation (the eval runner) ────────────────────────────────────────────────────
/** POST /generate (LoRAX/TGI) */
export const generateResponseSchema = z.object({ generated_text: z.string() });

/** POST /v1/completions, not streamed */
export const completionResponseSchema = z.object({ choices: z.array(z.object({ text: z.string() })).min(1, "no choices") });

// ── streamed generation (the playground) ─────────────────────────────────────────────────────
const alternative = z.object({ id: z.number().int(), text: z.string(), logprob: z.number() });

/** An error sent as an SSE event (either protocol's shape). */
export const streamErrorSchema = z.union([
  z.object({ error: z.string(), error_type: z.string().nullish() }),
  z.object({ error: z.object({ message: z.string().nullish(), type: z.string().nullish() }) }),
]);

/** One LoRAX/TGI `/generate_stream` event; the last carries `details` (and `generated_text`). */
export const loraxStreamEventSchema = z.object({
  token: z
    .object({
      id: z.number().int(),
      text: z.string(),
      logprob: z.number().nullish(),
      special: z.boolean().nullish(),
      alternative_tokens: z.array(alternative).nullish(),
    })
    .nullish(),
  generated_text: z.string().nullish(),
  details: z
    .object({
      finish_reason: z.string(),
      prompt_tokens: count.nullish(),
      /** TGI's name for the prompt's length */
      input_length: count.nullish(),
      generated_tokens: count.nullish(),
      seed: z.number().int().nullish(),
    })
    .nullish(),
});

const usageSchema = z.object({ prompt_tokens: count.nullish(), completion_tokens: count.nullish() }).nullish();

/** One OpenAI `/v1/completions` stream chunk. */
export const completionChunkSchema = z.object({
  choices: z.array(
    z.object({
      text: z.string().nullish(),
      finish_reason: z.string().nullish(),
      logprobs: z
        .object({
          tokens: z.array(z.string()).nullish(),
          token_logprobs: z.array(z.number().nullable()).nullish(),
          top_logprobs: z.array(z.record(z.string(), z.number()).nullable()).nullish(),
        })
        .nullish(),
    }),
  ),
  usage: usageSchema,
});

/** One OpenAI `/v1/chat/completions` stream chunk. */
export const chatChunkSchema = z.object({
  choices: z.array(
    z.object({
      delta: z.object({ content: z.string().nullish() }).nullish(),
      finish_reason: z.string().nullish(),
      logprobs: z
        .object({
          content: z
            .array(z.object({ token: z.string(), logprob: z.number(), top_logprobs: z.array(z.object({ token: z.string(), logprob: z.number() })).nullish() }))
            .nullish(),
        })
        .nullish(),
    }),
  ),
  usage: usageSchema,
});
