/**
 * Export a Hugging Face Llama/Mistral model directory and PEFT LoRA adapters to GGUF, the way
 * llama.cpp's convert_hf_to_gguf.py / convert_lora_to_gguf.py do for the `llama` architecture
 * (which llama.cpp also uses for Mistral): GGML names, and Q/K rows permuted from HF's
 * rotate_half RoPE layout to GGML's interleaved pairs (for adapters: LoRA B of q/k only, since the
 * permutation acts on output rows and A maps the input). The model's matrices go out as F32, F16,
 * BF16, Q8_0 or Q4_0, converted by our own quantizer (inference/kernels/quantize.ts: the same
 * bytes our engine serves, so both engines run the same weights); with Q4_0 the token embeddings
 * and the output head are Q8_0, as our q4 keeps them q8. Norms stay F32 (llama.cpp's rule).
 */
import fs from "node:fs";
import path from "node:path";
import { convertWeight, formatForRole } from "../../inference/kernels/quantize";
import type { HostWeight, WeightFormat } from "../../inference/kernels/tensor";
import { readSafetensorsHeader, readSafetensorsTensor, type SafetensorsInfo } from "./safetensors";
import {
  bool, f32, f32Arr, GGML_TYPE_BF16, GGML_TYPE_F16, GGML_TYPE_F32, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, i32Arr, str, strArr, u32, writeGguf,
  type GgufTensor, type GgufValue,
} from "./gguf";

/** llama.cpp's general.file_type (LLAMA_FTYPE_ALL_F32, MOSTLY_F16, MOSTLY_Q4_0, MOSTLY_Q8_0, MOSTLY_BF16) */
const FILE_TYPE: Record<WeightFormat, number> = { f32: 0, f16: 1, q4: 2, q8: 7, bf16: 32 };
const GGML_TYPE: Record<WeightFormat, number> = { f32: GGML_TYPE_F32, f16: GGML_TYPE_F16, bf16: GGML_TYPE_BF16, q8: GGML_TYPE_Q8_0, q4: GGML_TYPE_Q4_0 };

interface HfConfig {
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  intermediate_size: number;
  vocab_size: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta?: number;
  rope_parameters?: { rope_theta?: number };
  head_dim?: number;
  bos_token_id?: number;
  eos_token_id?: number | number[];
  tie_word_embeddings?: boolean;
  sliding_window?: number | null;
}

const PROJ_GGML: Record<string, string> = {
  q_proj: "attn_q", k_proj: "attn_k", v_proj: "attn_v", o_proj: "attn_output",
  gate_proj: "ffn_gate", up_proj: "ffn_up", down_proj: "ffn_down",
};

/**
 * Reorders each head's output rows from [first half | second half] to interleaved pairs:
 * new row h*hd + 2i + j = old row h*hd + j*hd/2 + i (convert_hf_to_gguf's LlamaModel.permute).
 *   w: (nHeads*hd, cols)
 */
export function permuteRope<T extends Float32Array | Uint16Array>(w: T, nHeads: number, cols: number): T {
  const rows = w.length / cols;
  const hd = rows / nHeads;
  const half = hd / 2;
  const out = new (w.constructor as new (n: number) => T)(w.length);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * hd + j * half + i) * cols;
        out.set(w.subarray(src, src + cols) as ArrayLike<number>, (h * hd + 2 * i + j) * cols);
      }
    }
  }
  return out;
}

function readConfig(modelDir: string): HfConfig {
  return JSON.parse(fs.readFileSync(path.join(modelDir, "config.json"), "utf8")) as HfConfig;
}

function tokenizerKv(modelDir: string, cfg: HfConfig): [string, GgufValue][] {
  const tj = JSON.parse(fs.readFileSync(path.join(modelDir, "tokenizer.json"), "utf8")) as {
    added_tokens: { id: number; content: string; special: boolean }[];
    model: { type: string; vocab: Record<string, number>; merges: ([string, string] | string)[]; unk_token?: string };
  };
  if (tj.model.type !== "BPE") throw new Error("gguf export: only BPE (SentencePiece-style) tokenizers are supported");
  const n = cfg.vocab_size;
  const tokens = new Array<string>(n).fill("");
  for (const [t, id] of Object.entries(tj.model.vocab)) if (id < n) tokens[id] = t;
  for (const a of tj.added_tokens) if (a.id < n) tokens[a.id] = a.content;
  for (let i = 0; i < n; i++) if (!tokens[i]) tokens[i] = `[PAD${i}]`;
  // SentencePiece scores: a merged token scores by its merge rank (earlier merge = higher score)
  const scores = new Float32Array(n);
  tj.model.merges.forEach((m, rank) => {
    const [a, b] = typeof m === "string" ? m.split(" ") : m;
    const id = tj.model.vocab[a + b];
    if (id !== undefined && id < n) scores[id] = -(rank + 1);
  });
  const special = new Set(tj.added_tokens.filter((a) => a.special).map((a) => a.id));
  const unkId = tj.model.unk_token !== undefined ? tj.model.vocab[tj.model.unk_token] : -1;
  const types = tokens.map((t, id) => (id === unkId ? 2 : special.has(id) ? 3 : /^<0x[0-9A-F]{2}>$/.test(t) ? 6 : 1));
  const eos = Array.isArray(cfg.eos_token_id) ? cfg.eos_token_id[0] : cfg.eos_token_id;
  const kv: [string, GgufValue][] = [
    ["tokenizer.ggml.model", str("llama")],
    ["tokenizer.ggml.tokens", strArr(tokens)],
    ["tokenizer.ggml.scores", f32Arr(scores)],
    ["tokenizer.ggml.token_type", i32Arr(types)],
    ["tokenizer.ggml.add_bos_token", bool(true)],
    ["tokenizer.ggml.add_eos_token", bool(false)],
  ];
  if (cfg.bos_token_id !== undefined) kv.push(["tokenizer.ggml.bos_token_id", u32(cfg.bos_token_id)]);
  if (eos !== undefined) kv.push(["tokenizer.ggml.eos_token_id", u32(eos)]);
  if (unkId >= 0) kv.push(["tokenizer.ggml.unknown_token_id", u32(unkId)]);
  return kv;
}

/** A stored matrix as a HostWeight in its stored float format (F32, BF16, F16), rows permuted for RoPE when asked. */
function readMatrix(file: string, info: SafetensorsInfo, permuteHeads: number): HostWeight {
  const [rows, cols] = info.shape;
  if (info.dtype === "F32") {
    const w = readSafetensorsTensor(file, info);
    return { format: "f32", rows, cols, data: permuteHeads ? permuteRope(w, permuteHeads, cols) : w };
  }
  if (info.dtype !== "BF16" && info.dtype !== "F16") throw new Error(`gguf export: unsupported dtype ${info.dtype}`);
  const bytes = Buffer.alloc(info.end - info.begin);
  const fd = fs.openSync(file, "r");
  try {
    for (let done = 0; done < bytes.length; ) done += fs.readSync(fd, bytes, done, bytes.length - done, info.begin + done);
  } finally {
    fs.closeSync(fd);
  }
  const w = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
  return { format: info.dtype === "BF16" ? "bf16" : "f16", rows, cols, data: permuteHeads ? permuteRope(w, permuteHeads, cols) : w };
}

/** A converted matrix's bytes in GGUF order: floats as they are; q8/q4 as ggml blocks [f16 scale][quants] (our planar scales + quants interleaved). */
function ggufData(w: HostWeight): Float32Array | Uint16Array | Uint8Array {
  if (w.format !== "q8" && w.format !== "q4") return w.data;
  const blocks = w.scales.length;
  const q = w.format === "q8" ? 32 : 16;
  const out = new Uint8Array(blocks * (2 + q));
  const quants = new Uint8Array(w.qs.buffer, w.qs.byteOffset, w.qs.byteLength);
  // a plain loop: a subarray per block would allocate 226M views for a 7B model
  for (let b = 0, o = 0, src = 0; b < blocks; b++) {
    out[o++] = w.scales[b] & 0xff;
    out[o++] = w.scales[b] >> 8;
    for (let k = 0; k < q; k++) out[o++] = quants[src++];
  }
  return out;
}

/**
 * HF Llama/Mistral directory (single model.safetensors, F32/BF16/F16) -> GGUF `llama` model with
 * the matrices as `format` (default f32). Tensor by tensor: one source matrix and its conversion
 * in memory at a time.
 */
export function exportModelGguf(modelDir: string, outFile: string, name = "synthetic", format: WeightFormat = "f32"): void {
  const cfg = readConfig(modelDir);
  if (cfg.sliding_window) throw new Error("gguf export: sliding-window attention is not exported (llama arch)");
  const heads = cfg.num_attention_heads;
  const kvHeads = cfg.num_key_value_heads ?? heads;
  const headDim = cfg.head_dim ?? cfg.hidden_size / heads;
  const ropeTheta = cfg.rope_theta ?? cfg.rope_parameters?.rope_theta ?? 10000;
  const file = path.join(modelDir, "model.safetensors");
  const header = readSafetensorsHeader(file);
  const kv: [string, GgufValue][] = [
    ["general.architecture", str("llama")],
    ["general.name", str(name)],
    ["general.file_type", u32(FILE_TYPE[format])],
    ["llama.vocab_size", u32(cfg.vocab_size)],
    ["llama.context_length", u32(cfg.max_position_embeddings)],
    ["llama.embedding_length", u32(cfg.hidden_size)],
    ["llama.block_count", u32(cfg.num_hidden_layers)],
    ["llama.feed_forward_length", u32(cfg.intermediate_size)],
    ["llama.rope.dimension_count", u32(headDim)],
    ["llama.attention.head_count", u32(heads)],
    ["llama.attention.head_count_kv", u32(kvHeads)],
    ["llama.attention.key_length", u32(headDim)],
    ["llama.attention.value_length", u32(headDim)],
    ["llama.attention.layer_norm_rms_epsilon", f32(cfg.rms_norm_eps)],
    ["llama.rope.freq_base", f32(ropeTheta)],
    ...tokenizerKv(modelDir, cfg),
  ];
  const tensor = (hfName: string, ggmlName: string, permuteHeads = 0): GgufTensor => {
    const info = header.get(hfName);
    if (!info) throw new Error(`gguf export: ${hfName} missing from ${file}`);
    const ne = [...info.shape].reverse();
    // norms (1-D) stay F32; with q4 the embeddings and output head are q8, like our loader's
    if (info.shape.length === 1) return { name: ggmlName, ne, data: () => readSafetensorsTensor(file, info) };
    const target = formatForRole(format, ggmlName === "token_embd.weight" ? "embed" : ggmlName === "output.weight" ? "lmHead" : "linear");
    return { name: ggmlName, ne, type: GGML_TYPE[target], data: () => ggufData(convertWeight(readMatrix(file, info, permuteHeads), target, hfName)) };
  };
  const tensors: GgufTensor[] = [tensor("model.embed_tokens.weight", "token_embd.weight")];
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const pre = `model.layers.${l}`;
    tensors.push(tensor(`${pre}.input_layernorm.weight`, `blk.${l}.attn_norm.weight`));
    for (const p of ["q_proj", "k_proj", "v_proj", "o_proj"]) {
      tensors.push(tensor(`${pre}.self_attn.${p}.weight`, `blk.${l}.${PROJ_GGML[p]}.weight`, p === "q_proj" ? heads : p === "k_proj" ? kvHeads : 0));
    }
    tensors.push(tensor(`${pre}.post_attention_layernorm.weight`, `blk.${l}.ffn_norm.weight`));
    for (const p of ["gate_proj", "up_proj", "down_proj"]) tensors.push(tensor(`${pre}.mlp.${p}.weight`, `blk.${l}.${PROJ_GGML[p]}.weight`));
  }
  tensors.push(tensor("model.norm.weight", "output_norm.weight"));
  tensors.push(tensor(cfg.tie_word_embeddings || !header.has("lm_head.weight") ? "model.embed_tokens.weight" : "lm_head.weight", "output.weight"));
  writeGguf(outFile, kv, tensors);
}

/**
 * PEFT LoRA adapter -> GGUF adapter (general.type "adapter", adapter.type "lora",
 * adapter.lora.alpha). Tensors `blk.N.<proj>.weight.lora_a` with ne [in, r] (A as stored, (r, in))
 * and `.lora_b` with ne [r, out] (B as stored, (out, r)), which is what llama.cpp checks:
 * a.ne[0] == W.ne[0], b.ne[1] == W.ne[1], a.ne[1] == b.ne[0]. llama.cpp scales by alpha / rank.
 */
export function exportAdapterGguf(adapterDir: string, modelDir: string, outFile: string): void {
  const cfg = readConfig(modelDir);
  const heads = cfg.num_attention_heads;
  const kvHeads = cfg.num_key_value_heads ?? heads;
  const acfg = JSON.parse(fs.readFileSync(path.join(adapterDir, "adapter_config.json"), "utf8")) as {
    r: number; lora_alpha: number; use_rslora?: boolean; rank_pattern?: Record<string, number>; alpha_pattern?: Record<string, number>;
  };
  if (acfg.use_rslora) throw new Error("gguf export: rsLoRA adapters are not supported (llama.cpp scales by alpha / r)");
  if (Object.keys(acfg.rank_pattern ?? {}).length || Object.keys(acfg.alpha_pattern ?? {}).length) {
    throw new Error("gguf export: rank_pattern / alpha_pattern are not supported (one alpha per GGUF adapter)");
  }
  const file = path.join(adapterDir, "adapter_model.safetensors");
  const header = readSafetensorsHeader(file);
  const re = /^base_model\.model\.model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+_proj)\.lora_([AB])\.weight$/;
  const tensors: GgufTensor[] = [];
  for (const [name, info] of header) {
    const m = re.exec(name);
    if (!m) throw new Error(`gguf export: unexpected adapter tensor ${name}`);
    const [, layer, proj, ab] = m;
    const permuteHeads = ab === "B" ? (proj === "q_proj" ? heads : proj === "k_proj" ? kvHeads : 0) : 0;
    tensors.push({
      name: `blk.${layer}.${PROJ_GGML[proj]}.weight.lora_${ab.toLowerCase()}`,
      ne: [...info.shape].reverse(),
      data: () => {
        const w = readSafetensorsTensor(file, info);
        return permuteHeads ? permuteRope(w, permuteHeads, info.shape[1]) : w;
      },
    });
  }
  tensors.sort((a, b) => (a.name < b.name ? -1 : 1));
  writeGguf(outFile, [
    ["general.architecture", str("llama")],
    ["general.type", str("adapter")],
    ["general.name", str(path.basename(adapterDir))],
    ["adapter.type", str("lora")],
    ["adapter.lora.alpha", f32(acfg.lora_alpha)],
  ], tensors);
}
