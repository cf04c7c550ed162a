/**
 * Writes a trained adapter as a PEFT LoRA folder: `adapter_config.json` (PEFT 0.x LoraConfig
 * fields) + `adapter_model.safetensors` with PEFT's saved key names
 * (`base_model.model.model.layers.{l}.self_attn.q_proj.lora_A.weight`, fp32), which
 * `PeftModel.from_pretrained` and our own loader (inference/adapters/peft.ts) read.
 * Also the small safetensors writer the checkpoints use.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { moduleName } from "../adapters/peft";
import type { LoraParam, LoraSpec } from "./lora-model";
import type { Buf } from "./tensor";

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Buf; // written as F32
}

/**
 * safetensors bytes: u64 little-endian header length, JSON header {name: {dtype, shape,
 * data_offsets}}, padded with spaces to a multiple of 8, then the tensors' bytes in order.
 */
export function encodeSafetensors(tensors: NamedTensor[], metadata: Record<string, string> = { format: "pt" }): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new RangeError(`${t.name}: shape [${t.shape}] has ${n} elements but the data ${t.data.length}`);
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let at = 8 + head.length;
  for (const t of tensors) {
    const f = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    Buffer.from(f.buffer, f.byteOffset, f.byteLength).copy(out, at);
    at += f.byteLength;
  }
  return out;
}

/** Writes a file through a temporary name and a rename (a crash never leaves half a file). */
export function writeFileAtomic(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/** PEFT's key of one LoRA tensor. */
export function peftKey(p: Pick<LoraParam, "layer" | "proj">, which: "A" | "B"): string {
  return `base_model.model.${moduleName(p.layer, p.proj)}.lora_${which}.weight`;
}

export interface PeftSaveInfo {
  baseModel: string;
  spec: LoraSpec;
}

export function adapterConfig(info: PeftSaveInfo): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: info.baseModel,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: info.spec.alpha,
    lora_dropout: info.spec.dropout,
    modules_to_save: null,
    peft_type: "LORA",
    r: info.spec.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...info.spec.targets],
    task_type: "CAUSAL_LM",
    use_dora: false,
    use_rslora: false,
  };
}

/** Writes dir/adapter_config.json and dir/adapter_model.safetensors. */
export function savePeftAdapter(dir: string, params: LoraParam[], info: PeftSaveInfo): void {
  mkdirSync(dir, { recursive: true });
  const r = info.spec.r;
  const tensors: NamedTensor[] = params.flatMap((p) => [
    { name: peftKey(p, "A"), shape: [r, p.inF], data: p.a },
    { name: peftKey(p, "B"), shape: [p.outF, r], data: p.b },
  ]);
  writeFileAtomic(path.join(dir, "adapter_model.safetensors"), encodeSafetensors(tensors));
  writeFileAtomic(path.join(dir, "adapter_config.json"), `${JSON.stringify(adapterConfig(info), null, 2)}\n`);
}
