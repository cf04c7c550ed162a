/**
 * The frozen base model for training: config.json + every weight as a plain fp32 array (the
 * training engine computes on host arrays; the inference engine's weight objects are its own).
 * Same tensor names and checks as inference/model/weights.ts.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ModelLoadError } from "../errors";
import { readModelConfig, type ModelConfig } from "../model/config";
import { SafetensorsReader } from "../model/safetensors";

export interface BaseLayer {
  inputNorm: Float32Array; // (hidden)
  q: Float32Array; // (numHeads*headDim, hidden)
  k: Float32Array; // (numKvHeads*headDim, hidden)
  v: Float32Array; // (numKvHeads*headDim, hidden)
  o: Float32Array; // (hidden, numHeads*headDim)
  postNorm: Float32Array; // (hidden)
  gate: Float32Array; // (intermediate, hidden)
  up: Float32Array; // (intermediate, hidden)
  down: Float32Array; // (hidden, intermediate)
}

export interface BaseWeights {
  embed: Float32Array; // (vocab, hidden)
  layers: BaseLayer[];
  finalNorm: Float32Array; // (hidden)
  lmHead: Float32Array; // (vocab, hidden); the embedding table itself when tied
}

export interface BaseModel {
  dir: string;
  config: ModelConfig;
  weights: BaseWeights;
}

/** tensor name -> file ("*" = the single model.safetensors) */
function weightFiles(dir: string): Map<string, string> {
  const index = path.join(dir, "model.safetensors.index.json");
  if (existsSync(index)) {
    let parsed: { weight_map?: Record<string, string> };
    try {
      parsed = JSON.parse(readFileSync(index, "utf8"));
    } catch (err) {
      throw new ModelLoadError(`model.safetensors.index.json is not valid JSON: ${(err as Error).message}`, { field: "model.safetensors.index.json" });
    }
    if (!parsed.weight_map || typeof parsed.weight_map !== "object") throw new ModelLoadError("model.safetensors.index.json has no weight_map", { field: "weight_map" });
    return new Map(Object.entries(parsed.weight_map).map(([name, file]) => {
      if (typeof file !== "string" || file.includes("/") || file.includes("\\")) throw new ModelLoadError(`model.safetensors.index.json: bad shard name for ${name}`, { field: "weight_map" });
      return [name, path.join(dir, file)];
    }));
  }
  const single = path.join(dir, "model.safetensors");
  if (existsSync(single)) return new Map([["*", single]]);
  throw new ModelLoadError(`${dir}: no model.safetensors or model.safetensors.index.json`, { field: "model.safetensors" });
}

export async function loadBaseModel(dir: string): Promise<BaseModel> {
  const c = await readModelConfig(dir);
  const files = weightFiles(dir);
  const readers = new Map<string, SafetensorsReader>();
  const fileOf = (name: string) => files.get(name) ?? files.get("*");
  const tensor = async (name: string, shape: number[]): Promise<Float32Array> => {
    const file = fileOf(name);
    if (!file) throw new ModelLoadError(`weight "${name}" is not in any weight file`, { field: name });
    let r = readers.get(file);
    if (!r) {
      r = await SafetensorsReader.open(file);
      readers.set(file, r);
    }
    if (!r.has(name)) throw new ModelLoadError(`weight "${name}" is missing from ${path.basename(file)}`, { field: name });
    const t = await r.readFloat32(name);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ModelLoadError(`weight "${name}" has shape [${t.shape}] but config.json implies [${shape}]`, { field: name });
    }
    return t.data;
  };
  const H = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim, I = c.intermediateSize;
  try {
    const embed = await tensor("model.embed_tokens.weight", [c.vocabSize, H]);
    const layers: BaseLayer[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}`;
      layers.push({
        inputNorm: await tensor(`${p}.input_layernorm.weight`, [H]),
        q: await tensor(`${p}.self_attn.q_proj.weight`, [q, H]),
        k: await tensor(`${p}.self_attn.k_proj.weight`, [kv, H]),
        v: await tensor(`${p}.self_attn.v_proj.weight`, [kv, H]),
        o: await tensor(`${p}.self_attn.o_proj.weight`, [H, q]),
        postNorm: await tensor(`${p}.post_attention_layernorm.weight`, [H]),
        gate: await tensor(`${p}.mlp.gate_proj.weight`, [I, H]),
        up: await tensor(`${p}.mlp.up_proj.weight`, [I, H]),
        down: await tensor(`${p}.mlp.down_proj.weight`, [H, I]),
      });
    }
    const finalNorm = await tensor("model.norm.weight", [H]);
    const headFile = fileOf("lm_head.weight");
    const hasHead = headFile !== undefined && (files.has("lm_head.weight") || (await SafetensorsReader.open(headFile).then(async (r) => { const h = r.has("lm_head.weight"); await r.close(); return h; })));
    if (!c.tieWordEmbeddings && !hasHead) throw new ModelLoadError(`weight "lm_head.weight" is missing and tie_word_embeddings is false`, { field: "lm_head.weight" });
    const lmHead = c.tieWordEmbeddings ? embed : await tensor("lm_head.weight", [c.vocabSize, H]);
    return { dir, config: c, weights: { embed, layers, finalNorm, lmHead } };
  } finally {
    await Promise.all([...readers.values()].map((r) => r.close()));
  }
}
