/**
 * Request bodies of both protocols, checked with zod before anything is queued. A failure becomes
 * a 422 naming the field (`parameters.top_p`, `messages.0.content`...). Unknown fields are ignored,
 * as TGI/LoRAX and OpenAI-compatible servers do, except the ones those servers define and this
 * worker does not implement: given with a value, they are a 422 naming them, never dropped.
 */
import { z } from "zod";
import { HttpError } from "./errors";
import { jsonPreview } from "./json-preview";
import { REQUEST_LIMITS as L } from "../request-limits";
import type { MergedAdapters, SamplingParams } from "../engine/types";
import { MERGE_STRATEGIES } from "../adapters/merge";
import { cachedSchema, SchemaError } from "../engine/json-constraint";

const int = () => z.number().int();
const seed = int().min(0).max(L.seed);
const optional = <T extends z.ZodType>(t: T) => t.nullish();
/** a field LoRAX, TGI or OpenAI define that this worker does not implement: null/absent only */
const unsupported = (why: string) => z.unknown().refine((v) => v === null || v === undefined, why).optional();

/**
 * A JSON schema for structured output (an object, or its JSON text as LoRAX's `schema` and TGI's
 * grammar may send it), compiled here so an unsupported keyword is a 422 whose field leads to it.
 */
const jsonSchema = z
  .union([z.record(z.string(), z.unknown()), z.boolean(), z.string()])
  .transform((v, ctx) => {
    let schema: unknown = v;
    if (typeof v === "string") {
      try {
        schema = JSON.parse(v);
      } catch {
        ctx.addIssue({ code: "custom", message: "the schema is a string but not JSON" });
        return z.NEVER;
      }
    }
    try {
      cachedSchema(schema);
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      ctx.addIssue({ code: "custom", message: e.message, path: e.path });
      return z.NEVER;
    }
    return { schema };
  });

export const loraxParametersSchema = z.object({
  adapter_id: optional(z.string().max(L.adapterIdChars)),
  adapter_source: optional(z.enum(["local", "hub"])),
  api_token: optional(z.string().max(L.apiTokenChars)),
  max_new_tokens: optional(int().min(1)),
  temperature: optional(z.number().min(0).max(L.loraxTemperature)),
  top_k: optional(int().min(0).max(L.topK)),
  top_p: optional(z.number().gt(0).max(1)),
  repetition_penalty: optional(z.number().gt(0).max(L.repetitionPenalty)),
  frequency_penalty: optional(z.number().min(-2).max(2)),
  presence_penalty: optional(z.number().min(-2).max(2)),
  typical_p: optional(z.number().gt(0).max(1)),
  do_sample: optional(z.boolean()),
  seed: optional(seed),
  stop: optional(z.array(z.string().min(1).max(L.stopChars)).max(L.stopSequences)),
  ignore_eos_token: optional(z.boolean()),
  return_full_text: optional(z.boolean()),
  details: optional(z.boolean()),
  decoder_input_details: optional(z.boolean()),
  return_k_alternatives: optional(int().min(0).max(L.alternatives)),
  top_n_tokens: optional(int().min(0).max(L.alternatives)),
  truncate: optional(int().min(1)),
  best_of: optional(int().min(1)),
  watermark: optional(z.literal(false, "watermarking is not supported by this worker")),
  // LoRAX's AdapterParameters (engine: adapters/merge.ts)
  merged_adapters: optional(z.object({
    ids: z.array(z.string().min(1).max(256)).min(1).max(16),
    weights: optional(z.array(z.number()).max(16)),
    merge_strategy: optional(z.enum(MERGE_STRATEGIES)),
    density: optional(z.number().min(0).max(1)),
    majority_sign_method: optional(z.enum(["total", "frequency"])),
  })),
  // structured output, as each project asks for it: LoRAX {"type": "json_object", "schema"?: ...},
  // LoRAX's older `schema` (JSON text), TGI's grammar {"type": "json" | "json_schema", "value": ...}
  response_format: optional(z.object({ type: z.literal("json_object"), schema: optional(jsonSchema) })),
  schema: optional(jsonSchema),
  grammar: optional(z.discriminatedUnion("type", [
    z.object({ type: z.literal("json"), value: jsonSchema }),
    z.object({ type: z.literal("json_schema"), value: z.object({ name: optional(z.string()), schema: jsonSchema }) }),
    z.object({ type: z.literal("regex"), value: z.unknown() }).refine(() => false, { message: "regex grammars are not supported by this worker (json and json_schema are)", path: ["type"] }),
  ])),
  apply_chat_template: optional(z.literal(false, "apply_chat_template is not supported on /generate; use /v1/chat/completions")),
});

export const loraxBodySchema = z.object({
  inputs: z.string().min(1),
  parameters: optional(loraxParametersSchema),
  stream: optional(z.boolean()),
});

export type LoraxParameters = z.infer<typeof loraxParametersSchema>;
export type LoraxBody = z.infer<typeof loraxBodySchema>;

export const tokenizeBodySchema = z.object({ inputs: z.string() });

const stopField = optional(z.union([z.string().min(1).max(L.stopChars), z.array(z.string().min(1).max(L.stopChars)).max(L.stopSequences)]));

const openaiCommon = {
  model: optional(z.string().max(L.adapterIdChars)),
  temperature: optional(z.number().min(0).max(L.temperature)),
  top_p: optional(z.number().gt(0).max(1)),
  n: optional(int().min(1).max(1)),
  stream: optional(z.boolean()),
  stream_options: optional(z.object({ include_usage: optional(z.boolean()) })),
  stop: stopField,
  seed: optional(seed),
  presence_penalty: optional(z.number().min(-2).max(2)),
  frequency_penalty: optional(z.number().min(-2).max(2)),
  user: optional(z.string()),
  logit_bias: optional(z.union([z.record(z.string(), z.number()), z.array(z.number())]).refine((o) => Object.keys(o).length === 0, "logit_bias is not supported")),
  // OpenAI: {"type": "text" | "json_object"} or {"type": "json_schema", "json_schema": {"schema": ...}};
  // TGI's /v1 sends its grammar shape: {"type": "json", "value": schema} or {"type": "json_schema", "value": {"schema": ...}}
  response_format: optional(z.discriminatedUnion("type", [
    z.object({ type: z.literal("text") }),
    z.object({ type: z.literal("json_object") }),
    z.object({ type: z.literal("json"), value: jsonSchema }),
    z.object({
      type: z.literal("json_schema"),
      json_schema: optional(z.object({ name: optional(z.string()), description: optional(z.string()), strict: optional(z.boolean()), schema: jsonSchema })),
      value: optional(z.object({ name: optional(z.string()), schema: jsonSchema })),
    }).refine((r) => (r.json_schema ? 1 : 0) + (r.value ? 1 : 0) === 1, { message: "json_schema needs its schema in json_schema.schema (OpenAI) or value.schema (TGI)", path: ["json_schema"] }),
  ], "type must be one of text, json_object, json_schema, json")),
  tools: unsupported("tools are not supported by this worker"),
  tool_choice: unsupported("tools are not supported by this worker"),
  tool_prompt: unsupported("tools are not supported by this worker"),
  typical_p: optional(z.number().gt(0).max(1)),
  // extensions that vLLM and LoRAX accept too
  top_k: optional(int().min(0).max(L.topK)),
  repetition_penalty: optional(z.number().gt(0).max(L.repetitionPenalty)),
  ignore_eos: optional(z.boolean()),
  api_token: optional(z.string().max(L.apiTokenChars)),
  adapter_source: optional(z.enum(["local", "hub"])),
};

const tokenIds = z.array(int().min(0)).min(1);

export const completionBodySchema = z.object({
  ...openaiCommon,
  prompt: z.union([
    z.string(),
    z.array(z.string()).length(1, "only one prompt per request is supported"),
    tokenIds,
    z.array(tokenIds).length(1, "only one prompt per request is supported"),
  ]),
  max_tokens: optional(int().min(1)),
  logprobs: optional(int().min(0).max(L.alternatives)),
  echo: optional(z.boolean()),
  best_of: optional(int().min(1).max(1)),
  suffix: optional(z.string().max(0, "suffix is not supported")),
});

const contentPart = z.object({ type: z.literal("text"), text: z.string() });

export const chatBodySchema = z.object({
  ...openaiCommon,
  messages: z
    .array(
      z.object({
        role: z.enum(["system", "user", "assistant", "developer", "tool"]),
        content: z.union([z.string(), z.array(contentPart)]).nullish(),
        name: optional(z.string()),
      }),
    )
    .min(1),
  max_tokens: optional(int().min(1)),
  max_completion_tokens: optional(int().min(1)),
  logprobs: optional(z.boolean()),
  top_logprobs: optional(int().min(0).max(L.alternatives)),
});

export type CompletionBody = z.infer<typeof completionBodySchema>;
export type ChatBody = z.infer<typeof chatBodySchema>;

/** Parse a body or throw a 422 that names the first bad field (with `prefix` for nested bodies). */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(422, "invalid_request", "the request body must be a JSON object", { field: "body" });
  }
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.map(String).join(".") || "body";
  const got = issue.path.reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k as string] : undefined), body);
  const shown = got === undefined ? "missing" : `got ${jsonPreview(got)}`;
  throw new HttpError(422, "invalid_request", `${field}: ${issue.message} (${shown})`, { field });
}

/** What a generation needs once the protocol-specific body is read. */
export interface GenerationPlan {
  adapterId: string | null;
  /** LoRAX's merged_adapters (instead of adapterId) */
  mergedAdapters: MergedAdapters | null;
  adapterSource: "local" | "hub" | null;
  apiToken: string | null;
  maxNewTokens: number;
  sampling: SamplingParams;
  stop: string[];
  /** the text ends with the matched stop sequence (LoRAX/TGI) instead of before it (OpenAI) */
  stopInclusive: boolean;
  /** compute the prompt tokens' logprobs (decoder_input_details) */
  promptLogprobs: boolean;
  /** structured output: one JSON object, or a document of a schema */
  responseFormat: "json_object" | { schema: unknown } | null;
  ignoreEos: boolean;
  topAlternatives: number;
}

export interface Limits {
  maxNewTokens: number;
  /** prompt + generated tokens of one request */
  maxContext: number;
}

/** best_of checks as TGI/LoRAX make them; returns the number of sequences to generate */
export function checkBestOf(p: LoraxParameters, maxBestOf: number, stream: boolean): number {
  const n = p.best_of ?? 1;
  if (n <= 1) return 1;
  const field = "parameters.best_of";
  if (n > maxBestOf) throw new HttpError(422, "invalid_request", `${field} must be <= ${maxBestOf} (this worker's --max-best-of), got ${n}`, { field });
  if (stream) throw new HttpError(422, "invalid_request", `${field} > 1 is not supported when streaming`, { field });
  if (p.seed != null) throw new HttpError(422, "invalid_request", `${field} > 1 needs sampling without a seed (each sequence draws its own), but parameters.seed was given`, { field });
  const sampling = p.do_sample === true || (p.temperature ?? 0) > 0 || p.top_k != null || p.top_p != null || p.typical_p != null;
  if (!sampling) throw new HttpError(422, "invalid_request", `${field} > 1 needs sampling (do_sample, temperature, top_k, top_p or typical_p)`, { field });
  return n;
}

export function checkMaxNewTokens(n: number | null | undefined, limits: Limits, field: string, fallback: number): number {
  const v = n ?? Math.min(fallback, limits.maxNewTokens);
  if (v > limits.maxNewTokens) {
    throw new HttpError(422, "invalid_request", `${field} must be <= ${limits.maxNewTokens} (this worker's limit), got ${v}`, { field });
  }
  return v;
}

export function loraxPlan(p: LoraxParameters | null | undefined, limits: Limits): GenerationPlan {
  const params = p ?? {};
  // TGI/LoRAX: sampling when do_sample, a temperature other than 1... any warper implies sampling
  const sample = (params.temperature ?? 0) > 0 || params.do_sample === true || params.top_k != null || params.top_p != null || params.typical_p != null || (params.best_of ?? 1) > 1;
  const sampling: SamplingParams = {
    temperature: sample ? (params.temperature && params.temperature > 0 ? params.temperature : 1) : 0,
    topK: params.top_k ?? undefined,
    topP: params.top_p ?? undefined,
    repetitionPenalty: params.repetition_penalty ?? undefined,
    frequencyPenalty: params.frequency_penalty ?? undefined,
    presencePenalty: params.presence_penalty ?? undefined,
    typicalP: params.typical_p ?? undefined,
    seed: params.seed ?? undefined,
  };
  return {
    adapterId: params.adapter_id || null,
    mergedAdapters: params.merged_adapters
      ? {
        ids: params.merged_adapters.ids,
        weights: params.merged_adapters.weights ?? undefined,
        strategy: params.merged_adapters.merge_strategy ?? undefined,
        // LoRAX's default density is 0 (everything pruned): absent, the engine asks for it
        density: params.merged_adapters.density ?? undefined,
        majoritySignMethod: params.merged_adapters.majority_sign_method ?? undefined,
      }
      : null,
    adapterSource: params.adapter_source ?? null,
    apiToken: params.api_token ?? null,
    maxNewTokens: checkMaxNewTokens(params.max_new_tokens, limits, "parameters.max_new_tokens", 100),
    sampling,
    stop: params.stop ?? [],
    stopInclusive: true,
    promptLogprobs: params.decoder_input_details === true,
    responseFormat: loraxFormat(params),
    ignoreEos: params.ignore_eos_token ?? false,
    topAlternatives: Math.max(params.return_k_alternatives ?? 0, params.top_n_tokens ?? 0),
  };
}

/** LoRAX's three ways to ask for structured output; at most one */
function loraxFormat(p: LoraxParameters): GenerationPlan["responseFormat"] {
  const given = (["response_format", "schema", "grammar"] as const).filter((k) => p[k] != null);
  if (given.length > 1) {
    const field = `parameters.${given[1]}`;
    throw new HttpError(422, "invalid_request", `${field}: give one of parameters.response_format, parameters.schema, parameters.grammar`, { field });
  }
  if (p.response_format) return p.response_format.schema ?? "json_object";
  if (p.schema) return p.schema;
  if (p.grammar) return p.grammar.type === "json" ? p.grammar.value : p.grammar.type === "json_schema" ? p.grammar.value.schema : null;
  return null;
}

function openaiFormat(f: CompletionBody["response_format"]): GenerationPlan["responseFormat"] {
  if (!f || f.type === "text") return null;
  if (f.type === "json_object") return "json_object";
  if (f.type === "json") return f.value;
  return (f.json_schema ?? f.value)!.schema;
}

type OpenAiCommon = Pick<CompletionBody, keyof typeof openaiCommon>;

export function openaiPlan(b: OpenAiCommon, maxTokens: number | null | undefined, maxField: string, topAlternatives: number, limits: Limits): GenerationPlan {
  const temperature = b.temperature ?? 1; // OpenAI's default; 0 = greedy
  return {
    adapterId: null, // resolved from `model` by the route
    mergedAdapters: null,
    adapterSource: b.adapter_source ?? null,
    apiToken: b.api_token ?? null,
    maxNewTokens: checkMaxNewTokens(maxTokens, limits, maxField, 16),
    sampling: {
      temperature,
      topP: b.top_p ?? undefined,
      topK: b.top_k ?? undefined,
      repetitionPenalty: b.repetition_penalty ?? undefined,
      frequencyPenalty: b.frequency_penalty ?? undefined,
      presencePenalty: b.presence_penalty ?? undefined,
      typicalP: b.typical_p ?? undefined,
      seed: b.seed ?? undefined,
    },
    stop: b.stop == null ? [] : typeof b.stop === "string" ? [b.stop] : b.stop,
    stopInclusive: false,
    promptLogprobs: false,
    responseFormat: openaiFormat(b.response_format),
    ignoreEos: b.ignore_eos ?? false,
    topAlternatives,
  };
}
