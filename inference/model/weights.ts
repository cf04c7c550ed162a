/**
 * Base model weights in fp32, read from `model.safetensors` or the shards of
 * `model.safetensors.index.json`. Names follow transformers' Llama/Mistral modules.
 */
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ModelLoadError } from "../errors";
import { parameterCount, type ModelConfig } from "./config";
import { SafetensorsReader } from "./safetensors";
import { f32Weight, type HostWeight } from "../kernels/tensor";

/** One decoder layer's weights: W = a weight matrix (any format), F = an f32 vector. */
export interface LayerWeights<W = HostWeight, F = Float32Array> {
  inputNorm: F; // (hidden)
  q: W; // (numHeads*headDim, hidden)
  k: W; // (numKvHeads*headDim, hidden)
  v: W; // (numKvHeads*headDim, hidden)
  o: W; // (hidden, numHeads*headDim)
  postNorm: F; // (hidden)
  gate: W; // (intermediate, hidden)
  up: W; // (intermediate, hidden)
  down: W; // (hidden, intermediate)
}

/** The base model's weights, host arrays by default (`uploadModelWeights` moves them to a backend). */
export interface ModelWeights<W = HostWeight, F = Float32Array> {
  embed: W; // (vocab, hidden)
  layers: LayerWeights<W, F>[];
  finalNorm: F; // (hidden)
  lmHead: W; // (vocab, hidden); the embedding table itself when tied
}

/** file of each tensor name */
async function weightFiles(dir: string): Promise<Map<string, string>> {
  const single = path.join(dir, "model.safetensors");
  const index = path.join(dir, "model.safetensors.index.json");
  const map = new Map<string, string>();
  if (existsSync(index)) {
    let parsed: { weight_map?: Record<string, string> };
    try {
      parsed = JSON.parse(await readFile(index, "utf8"));
    } catch (err) {
      throw new ModelLoadError(`model.safetensors.index.json is not valid JSON: ${(err as Error).message}`, { field: "model.safetensors.index.json" });
    }
    if (!parsed.weight_map || typeof parsed.weight_map !== "object") {
      throw new ModelLoadError(`model.safetensors.index.json has no weight_map`, { field: "weight_map" });
    }
    for (const [name, file] of Object.entries(parsed.weight_map)) {
      if (typeof file !== "string" || file.includes("/") || file.includes("\\")) {
        throw new ModelLoadError(`model.safetensors.index.json: bad shard name for ${name}`, { field: "weight_map" });
      }
      map.set(name, path.join(dir, file));
    }
    return map;
  }
  if (existsSync(single)) return new Map([["*", single]]);
  if (existsSync(path.join(dir, "pytorch_model.bin")) || existsSync(path.join(dir, "model.bin"))) {
    throw new ModelLoadError(`${dir}: only PyTorch .bin weights found; convert them to safetensors`, { field: "model.safetensors" });
  }
  throw new ModelLoadError(`${dir}: no model.safetensors or model.safetensors.index.json`, { field: "model.safetensors" });
}

/** Refuses a model whose fp32 weights cannot fit in this machine's memory. */
export function checkMemory(config: ModelConfig): void {
  const need = parameterCount(config) * 4;
  const total = os.totalmem();
  if (need > total * 0.9) {
    const gb = (b: number) => (b / 1e9).toFixed(1);
    throw new ModelLoadError(
      `the model needs ~${gb(need)} GB for its fp32 weights but this machine has ${gb(total)} GB of memory`,
      { field: "memory" },
    );
  }
}

export async function readModelWeights(dir: string, c: ModelConfig): Promise<ModelWeights<HostWeight, Float32Array>> {
  checkMemory(c);
  const files = await weightFiles(dir);
  const readers = new Map<string, SafetensorsReader>();
  const readerFor = async (name: string): Promise<SafetensorsReader> => {
    const file = files.get(name) ?? files.get("*");
    if (!file) throw new ModelLoadError(`weight "${name}" is not in any weight file`, { field: name });
    let r = readers.get(file);
    if (!r) {
      r = await SafetensorsReader.open(file);
      readers.set(file, r);
    }
    return r;
  };
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const tensor = async (name: string, shape: number[]): Promise<Float32Array> => {
    const r = await readerFor(name);
    if (!r.has(name)) throw new ModelLoadError(`weight "${name}" is missing from ${path.basename(r.header.file)}`, { field: name });
    const t = await r.readFloat32(name);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ModelLoadError(`weight "${name}" has shape [${t.shape}] but config.json implies [${shape}]`, { field: name });
    }
    return t.data;
  };
  try {
    const matrix = async (name: string, rows: number, cols: number): Promise<HostWeight> => f32Weight(await tensor(name, [rows, cols]), rows, cols);
    const embed = await matrix("model.embed_tokens.weight", c.vocabSize, c.hiddenSize);
    const layers: LayerWeights[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}`;
      layers.push({
        inputNorm: await tensor(`${p}.input_layernorm.weight`, [c.hiddenSize]),
        q: await matrix(`${p}.self_attn.q_proj.weight`, q, c.hiddenSize),
        k: await matrix(`${p}.self_attn.k_proj.weight`, kv, c.hiddenSize),
        v: await matrix(`${p}.self_attn.v_proj.weight`, kv, c.hiddenSize),
        o: await matrix(`${p}.self_attn.o_proj.weight`, c.hiddenSize, q),
        postNorm: await tensor(`${p}.post_attention_layernorm.weight`, [c.hiddenSize]),
        gate: await matrix(`${p}.mlp.gate_proj.weight`, c.intermediateSize, c.hiddenSize),
        up: await matrix(`${p}.mlp.up_proj.weight`, c.intermediateSize, c.hiddenSize),
        down: await matrix(`${p}.mlp.down_proj.weight`, c.hiddenSize, c.intermediateSize),
      });
    }
    const finalNorm = await tensor("model.norm.weight", [c.hiddenSize]);
    const hasHead = (await readerFor("lm_head.weight").catch(() => null))?.has("lm_head.weight") ?? false;
    const lmHead = c.tieWordEmbeddings || !hasHead ? embed : await matrix("lm_head.weight", c.vocabSize, c.hiddenSize);
    if (!c.tieWordEmbeddings && !hasHead) throw new ModelLoadError(`weight "lm_head.weight" is missing and tie_word_embeddings is false`, { field: "lm_head.weight" });
    return { embed, layers, finalNorm, lmHead };
  } finally {
    await Promise.all([...readers.values()].map((r) => r.close()));
  }
}
