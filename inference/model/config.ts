/**
 * Hugging Face `config.json` (+ `generation_config.json`) of a Llama or Mistral causal LM,
 * reduced to what the forward pass needs.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { ModelLoadError } from "../errors";

export interface ModelConfig {
  architecture: string;
  modelType: string;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  ropeTheta: number;
  rmsNormEps: number;
  /** 0 = no sliding window */
  slidingWindow: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** "float32" | "float16" | "bfloat16" as config.json says (the safetensors dtypes decide the conversion) */
  storedDtype: string;
}

export const SUPPORTED_ARCHITECTURES = ["LlamaForCausalLM", "MistralForCausalLM"] as const;

type Json = Record<string, unknown>;

async function readJson(file: string, required: boolean): Promise<Json | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (!required) return null;
    throw new ModelLoadError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { field: path.basename(file), cause: err });
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Json;
  } catch (err) {
    throw new ModelLoadError(`${file} is not valid JSON: ${(err as Error).message}`, { field: path.basename(file), cause: err });
  }
}

function positiveInt(cfg: Json, field: string, fallback?: number): number {
  const v = cfg[field] ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
    throw new ModelLoadError(`config.json: "${field}" must be a positive integer, got ${JSON.stringify(cfg[field])}`, { field });
  }
  return v;
}

function idList(v: unknown): number[] {
  if (typeof v === "number") return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === "number");
  return [];
}

export function parseModelConfig(cfg: Json, generation: Json | null = null): ModelConfig {
  const archs = cfg.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === "string" ? archs[0] : "";
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new ModelLoadError(
      `config.json: unsupported architecture ${JSON.stringify(architecture || archs)}; supported: ${SUPPORTED_ARCHITECTURES.join(", ")}`,
      { field: "architectures" },
    );
  }
  const hiddenSize = positiveInt(cfg, "hidden_size");
  const numHeads = positiveInt(cfg, "num_attention_heads");
  const numKvHeads = positiveInt(cfg, "num_key_value_heads", numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new ModelLoadError(`config.json: num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`, { field: "num_key_value_heads" });
  }
  const headDim = cfg.head_dim == null ? hiddenSize / numHeads : positiveInt(cfg, "head_dim");
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new ModelLoadError(`config.json: head dimension ${headDim} must be an even integer`, { field: "head_dim" });
  }
  const ropeParams = (cfg.rope_parameters ?? cfg.rope_scaling ?? null) as Json | null;
  // only HF's "default" RoPE is computed; a scaled variant (linear, llama3, yarn, ...) would give
  // silently wrong logits, so it is refused (linear with factor 1 is the default)
  const ropeType = ropeParams?.rope_type ?? ropeParams?.type;
  const ropeField = cfg.rope_parameters ? "rope_parameters.rope_type" : "rope_scaling.rope_type";
  if (ropeType !== undefined && ropeType !== null && ropeType !== "default" && !(ropeType === "linear" && Number(ropeParams?.factor ?? 1) === 1)) {
    throw new ModelLoadError(`config.json: RoPE scaling ${JSON.stringify(ropeType)} is not supported (only the default RoPE)`, { field: ropeField });
  }
  const ropeTheta = Number(cfg.rope_theta ?? ropeParams?.rope_theta ?? 10000);
  if (!(ropeTheta > 0)) throw new ModelLoadError(`config.json: rope_theta must be positive`, { field: "rope_theta" });
  const act = cfg.hidden_act ?? "silu";
  if (act !== "silu") throw new ModelLoadError(`config.json: hidden_act "${String(act)}" is not supported (only silu)`, { field: "hidden_act" });
  if (cfg.attention_bias === true || cfg.mlp_bias === true) {
    throw new ModelLoadError(`config.json: attention_bias / mlp_bias are not supported`, { field: cfg.attention_bias ? "attention_bias" : "mlp_bias" });
  }
  const sw = cfg.sliding_window;
  const slidingWindow = architecture === "MistralForCausalLM" && typeof sw === "number" && sw > 0 ? sw : 0;
  const eos = idList(generation?.eos_token_id ?? cfg.eos_token_id);
  const bos = (generation?.bos_token_id ?? cfg.bos_token_id) as unknown;
  return {
    architecture,
    modelType: String(cfg.model_type ?? (architecture === "MistralForCausalLM" ? "mistral" : "llama")),
    hiddenSize,
    numLayers: positiveInt(cfg, "num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: positiveInt(cfg, "intermediate_size"),
    vocabSize: positiveInt(cfg, "vocab_size"),
    ropeTheta,
    rmsNormEps: Number(cfg.rms_norm_eps ?? 1e-6),
    slidingWindow,
    maxPositionEmbeddings: positiveInt(cfg, "max_position_embeddings", 4096),
    tieWordEmbeddings: cfg.tie_word_embeddings === true,
    bosTokenId: typeof bos === "number" ? bos : null,
    eosTokenIds: [...new Set([...eos, ...idList(cfg.eos_token_id)])],
    storedDtype: String(cfg.dtype ?? cfg.torch_dtype ?? "float32"),
  };
}

export async function readModelConfig(dir: string): Promise<ModelConfig> {
  const cfg = await readJson(path.join(dir, "config.json"), true);
  const generation = await readJson(path.join(dir, "generation_config.json"), false);
  return parseModelConfig(cfg!, generation);
}

/** Number of parameters of the base model (embeddings, layers, final norm, LM head unless tied). */
export function parameterCount(c: ModelConfig): number {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const perLayer = c.hiddenSize * (q + 2 * kv) + q * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize + 2 * c.hiddenSize;
  const embed = c.vocabSize * c.hiddenSize;
  return embed + c.numLayers * perLayer + c.hiddenSize + (c.tieWordEmbeddings ? 0 : embed);
}
