/**
 * PEFT LoRA adapters (`adapter_config.json` + `adapter_model.safetensors`): read, validate
 * against the base model's shapes, convert to fp32. Whatever we cannot serve exactly is refused
 * with an AdapterError naming the field — never silently ignored.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { AdapterError, EngineError, SafetensorsError } from "../errors";
import type { ModelConfig } from "../model/config";
import { readSafetensorsFile, readSafetensorsHeader, readSafetensorsHeaderSync, tensorFloat32, numel, type SafetensorsHeader } from "../model/safetensors";
import { LoadWorkerUnavailable, readTensorsInWorker, warmLoadWorker, type TensorRead } from "./load-worker-client";
import { PROJECTIONS, type LoraPair, type LoraWeights, type Projection } from "./lora-weights";
import { jsonPreview } from "../server/json-preview";

/**
 * Largest scale (lora_alpha / r, or / sqrt(r) with rslora) served. Trained adapters use 0.25–16
 * (alpha 16–128 over r 8–64); far beyond, the delta swamps the base model's activations and fp32
 * overflows to Inf, so such a config is refused at load rather than served as NaN output.
 */
export const MAX_LORA_SCALE = 1024;

export interface AdapterMeta {
  rank: number;
  alpha: number;
  targetModules: Projection[];
  baseModel: string | null;
  /** bytes of the fp32 tensors once loaded */
  bytes: number;
}

interface PeftConfig {
  r: number;
  alpha: number;
  rslora: boolean;
  /** module full name -> adapted? */
  targets: (moduleName: string, proj: Projection) => boolean;
  layers: Set<number> | null;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  baseModel: string | null;
}

const MODULE_PATH: Record<Projection, string> = {
  q_proj: "self_attn.q_proj", k_proj: "self_attn.k_proj", v_proj: "self_attn.v_proj", o_proj: "self_attn.o_proj",
  gate_proj: "mlp.gate_proj", up_proj: "mlp.up_proj", down_proj: "mlp.down_proj",
};

export function moduleName(layer: number, proj: Projection): string {
  return `model.layers.${layer}.${MODULE_PATH[proj]}`;
}

/** (in, out) features of each projection of the base model */
export function projectionShape(c: ModelConfig, proj: Projection): [number, number] {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  switch (proj) {
    case "q_proj": return [c.hiddenSize, q];
    case "k_proj": case "v_proj": return [c.hiddenSize, kv];
    case "o_proj": return [q, c.hiddenSize];
    case "gate_proj": case "up_proj": return [c.hiddenSize, c.intermediateSize];
    case "down_proj": return [c.intermediateSize, c.hiddenSize];
  }
}

/** PEFT's pattern lookup: the first key k with `(.*\.)?k$` matching the module name */
function patternValue(pattern: Record<string, number>, name: string, fallback: number): number {
  for (const [key, value] of Object.entries(pattern)) {
    try {
      // PEFT: re.match(rf"(.*\.)?({key})$", name) — the key is a regex fragment, grouped
      if (new RegExp(`^(.*\\.)?(?:${key})$`).test(name)) return value;
    } catch { /* invalid regexes were rejected when parsing */ }
  }
  return fallback;
}

function parseConfig(id: string, raw: Record<string, unknown>): PeftConfig {
  const fail = (field: string, msg: string) => new AdapterError(id, `${field}: ${msg}`, { field });
  const peftType = raw.peft_type ?? "LORA";
  if (peftType !== "LORA") throw fail("peft_type", `"${String(peftType)}" is not supported (only LORA)`);
  if (raw.use_dora === true) throw fail("use_dora", "DoRA adapters are not supported");
  if (Array.isArray(raw.modules_to_save) && raw.modules_to_save.length > 0) {
    throw fail("modules_to_save", `fully trained modules (${raw.modules_to_save.join(", ")}) are not supported`);
  }
  if (raw.bias !== undefined && raw.bias !== "none") throw fail("bias", `bias training "${String(raw.bias)}" is not supported (only "none")`);
  if (raw.lora_bias === true) throw fail("lora_bias", "LoRA bias terms are not supported");
  if (raw.fan_in_fan_out === true) throw fail("fan_in_fan_out", "fan_in_fan_out (Conv1D layout) is not supported for Llama/Mistral");
  // variants that change the math (activated LoRA, QA-LoRA pooling, BD-LoRA, ...) are refused
  for (const field of ["layer_replication", "target_parameters", "trainable_token_indices", "alora_invocation_tokens", "use_bdlora"]) {
    const v = raw[field];
    if (v !== undefined && v !== null && v !== false && !(Array.isArray(v) && v.length === 0)) throw fail(field, "is not supported");
  }
  if (raw.use_qalora === true) throw fail("use_qalora", "QA-LoRA adapters are not supported");
  const r = raw.r;
  if (typeof r !== "number" || !Number.isInteger(r) || r <= 0) throw fail("r", `must be a positive integer, got ${jsonPreview(r)}`);
  const alpha = raw.lora_alpha ?? r;
  if (typeof alpha !== "number" || !(alpha > 0) || !Number.isFinite(alpha)) throw fail("lora_alpha", `must be a positive finite number, got ${jsonPreview(alpha)}`);

  const patterns = (field: string): Record<string, number> => {
    const p = raw[field] ?? {};
    if (typeof p !== "object" || p === null || Array.isArray(p)) throw fail(field, "must be an object");
    for (const [k, v] of Object.entries(p as Record<string, unknown>)) {
      if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw fail(field, `value for "${k}" must be a positive finite number`);
      try { new RegExp(k); } catch { throw fail(field, `key "${k}" is not a valid pattern`); }
    }
    return p as Record<string, number>;
  };

  let targets: PeftConfig["targets"];
  const tm = raw.target_modules;
  if (typeof tm === "string") {
    if (tm === "all-linear") targets = () => true;
    else {
      let re: RegExp;
      try { re = new RegExp(`^(?:${tm})$`); } catch { throw fail("target_modules", `"${tm}" is not a valid regular expression`); }
      targets = (name) => re.test(name);
    }
  } else if (Array.isArray(tm) && tm.length > 0 && tm.every((t) => typeof t === "string")) {
    const names = tm as string[];
    const unknown = names.filter((t) => !(PROJECTIONS as readonly string[]).includes(t.split(".").pop()!));
    if (unknown.length) throw fail("target_modules", `${unknown.join(", ")} cannot be adapted (supported: ${PROJECTIONS.join(", ")})`);
    targets = (name) => names.some((t) => name === t || name.endsWith(`.${t}`));
  } else {
    throw fail("target_modules", "must be a non-empty list of module names or a regex string");
  }
  // exclude_modules: same matching rules as target_modules (regex = full match, list = suffix)
  const ex = raw.exclude_modules;
  if (typeof ex === "string" && ex !== "") {
    let re: RegExp;
    try { re = new RegExp(`^(?:${ex})$`); } catch { throw fail("exclude_modules", `"${ex}" is not a valid regular expression`); }
    const included = targets;
    targets = (name, proj) => included(name, proj) && !re.test(name);
  } else if (Array.isArray(ex) && ex.length > 0) {
    if (!ex.every((t) => typeof t === "string")) throw fail("exclude_modules", "must list module names");
    const names = ex as string[];
    const included = targets;
    targets = (name, proj) => included(name, proj) && !names.some((t) => name === t || name.endsWith(`.${t}`));
  } else if (ex !== undefined && ex !== null && !(Array.isArray(ex) && ex.length === 0)) {
    throw fail("exclude_modules", "must be a list of module names or a regex string");
  }

  let layers: Set<number> | null = null;
  const ltt = raw.layers_to_transform;
  if (typeof ltt === "number") layers = new Set([ltt]);
  else if (Array.isArray(ltt)) {
    if (!ltt.every((x) => Number.isInteger(x) && x >= 0)) throw fail("layers_to_transform", "must list layer indices");
    layers = new Set(ltt as number[]);
  } else if (ltt !== undefined && ltt !== null) throw fail("layers_to_transform", "must be an integer or a list of integers");

  return {
    r, alpha, rslora: raw.use_rslora === true, targets, layers,
    rankPattern: patterns("rank_pattern"), alphaPattern: patterns("alpha_pattern"),
    baseModel: typeof raw.base_model_name_or_path === "string" ? raw.base_model_name_or_path : null,
  };
}

async function readConfig(dir: string, id: string): Promise<PeftConfig> {
  const file = path.join(dir, "adapter_config.json");
  let text: string;
  try {
    // a few hundred bytes: read synchronously rather than wait a whole engine step for it
    text = readFileSync(file, "utf8");
  } catch {
    throw new AdapterError(id, `adapter_config.json is missing in ${dir}`, { field: "adapter_config.json", code: "adapter_invalid" });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new AdapterError(id, `adapter_config.json is not valid JSON (${(err as Error).message})`, { field: "adapter_config.json" });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new AdapterError(id, "adapter_config.json is not a JSON object", { field: "adapter_config.json" });
  return parseConfig(id, raw as Record<string, unknown>);
}

function weightsFile(dir: string, id: string): string {
  const file = path.join(dir, "adapter_model.safetensors");
  if (existsSync(file)) return file;
  if (existsSync(path.join(dir, "adapter_model.bin"))) {
    throw new AdapterError(id, "only adapter_model.bin (PyTorch pickle) found; .bin weights are not supported, use adapter_model.safetensors", { field: "adapter_model.bin" });
  }
  throw new AdapterError(id, `adapter_model.safetensors is missing in ${dir}`, { field: "adapter_model.safetensors" });
}

async function readHeader(file: string, id: string): Promise<SafetensorsHeader> {
  try {
    return await readSafetensorsHeader(file);
  } catch (err) {
    if (err instanceof EngineError) throw new AdapterError(id, err.message, { field: "adapter_model.safetensors", cause: err });
    throw err;
  }
}

const KEY_RE = /^(?:base_model\.model\.)?model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$/;

interface Plan {
  /** (layer, projection) -> tensor names and rank/scale */
  entries: { layer: number; proj: Projection; aKey: string; bKey: string; r: number; scale: number }[];
  meta: AdapterMeta;
}

/** Matches the safetensors keys with the config and the base shapes; no weights read. */
function plan(id: string, cfg: PeftConfig, header: SafetensorsHeader, base: ModelConfig | null): Plan {
  const found = new Map<string, { a?: string; b?: string }>();
  for (const key of header.tensors.keys()) {
    const m = KEY_RE.exec(key);
    if (!m) {
      throw new AdapterError(id, `tensor "${key}" is not a LoRA A/B weight of a Llama/Mistral projection (embeddings, lm_head, biases and other modules are not supported)`, { field: "adapter_model.safetensors" });
    }
    const proj = m[3] as Projection;
    if (!(PROJECTIONS as readonly string[]).includes(proj) || MODULE_PATH[proj] !== `${m[2]}.${proj}`) {
      throw new AdapterError(id, `tensor "${key}" targets unsupported module ${m[2]}.${m[3]}`, { field: "target_modules" });
    }
    const k = `${m[1]}.${proj}`;
    const e = found.get(k) ?? {};
    if (m[4] === "A") e.a = key; else e.b = key;
    found.set(k, e);
  }
  if (found.size === 0) throw new AdapterError(id, "adapter_model.safetensors has no LoRA weights", { field: "adapter_model.safetensors" });
  const entries: Plan["entries"] = [];
  const targetSet = new Set<Projection>();
  let bytes = 0;
  let maxLayer = -1;
  for (const [k, e] of found) {
    const [layerStr, proj] = k.split(".") as [string, Projection];
    const layer = Number(layerStr);
    maxLayer = Math.max(maxLayer, layer);
    const name = moduleName(layer, proj);
    if (!e.a || !e.b) throw new AdapterError(id, `${name}: lora_${e.a ? "B" : "A"} weight is missing`, { field: "adapter_model.safetensors" });
    if (!cfg.targets(name, proj)) throw new AdapterError(id, `${name} has LoRA weights but is not in target_modules`, { field: "target_modules" });
    if (cfg.layers && !cfg.layers.has(layer)) throw new AdapterError(id, `${name} has LoRA weights but layer ${layer} is not in layers_to_transform`, { field: "layers_to_transform" });
    const r = patternValue(cfg.rankPattern, name, cfg.r);
    const alpha = patternValue(cfg.alphaPattern, name, cfg.alpha);
    const aShape = header.tensors.get(e.a)!.shape;
    const bShape = header.tensors.get(e.b)!.shape;
    if (base) {
      if (layer >= base.numLayers) {
        throw new AdapterError(id, `${name}: layer ${layer} does not exist (the base model has ${base.numLayers} layers)`, { field: "layers" });
      }
      const [inF, outF] = projectionShape(base, proj);
      if (aShape.length !== 2 || aShape[0] !== r || aShape[1] !== inF) {
        throw new AdapterError(id, `${name}: lora_A has shape [${aShape}] but the base model needs [${r}, ${inF}] (r=${r}); the adapter does not fit this base model`, { field: "shape" });
      }
      if (bShape.length !== 2 || bShape[0] !== outF || bShape[1] !== r) {
        throw new AdapterError(id, `${name}: lora_B has shape [${bShape}] but the base model needs [${outF}, ${r}]; the adapter does not fit this base model`, { field: "shape" });
      }
    } else if (aShape.length !== 2 || bShape.length !== 2 || aShape[0] !== r || bShape[1] !== r) {
      throw new AdapterError(id, `${name}: lora_A [${aShape}] / lora_B [${bShape}] do not have rank ${r}`, { field: "r" });
    }
    targetSet.add(proj);
    bytes += (numel(aShape) + numel(bShape)) * 4;
    const scale = cfg.rslora ? alpha / Math.sqrt(r) : alpha / r;
    if (!(scale <= MAX_LORA_SCALE)) {
      const field = alpha === cfg.alpha ? "lora_alpha" : "alpha_pattern";
      throw new AdapterError(id, `${name}: ${field} gives the LoRA scale ${cfg.rslora ? "lora_alpha/sqrt(r)" : "lora_alpha/r"} = ${alpha}/${cfg.rslora ? `sqrt(${r})` : r} = ${scale.toPrecision(4)} is over ${MAX_LORA_SCALE}; no trained adapter uses such a scale`, { field });
    }
    entries.push({ layer, proj, aKey: e.a, bKey: e.b, r, scale });
  }
  if (base) {
    // every module the config targets must have its tensors (PEFT would leave it untrained)
    for (let l = 0; l < base.numLayers; l++) {
      if (cfg.layers && !cfg.layers.has(l)) continue;
      for (const proj of PROJECTIONS) {
        const name = moduleName(l, proj);
        if (cfg.targets(name, proj) && !found.has(`${l}.${proj}`)) {
          throw new AdapterError(id, `${name} is in target_modules but its lora_A/lora_B tensors are missing from adapter_model.safetensors`, { field: "adapter_model.safetensors" });
        }
      }
    }
  }
  if (base && cfg.layers) {
    for (const l of cfg.layers) {
      if (l >= base.numLayers) throw new AdapterError(id, `layers_to_transform names layer ${l} but the base model has ${base.numLayers} layers`, { field: "layers_to_transform" });
    }
  }
  const targetModules = PROJECTIONS.filter((p) => targetSet.has(p));
  return { entries, meta: { rank: cfg.r, alpha: cfg.alpha, targetModules, baseModel: cfg.baseModel, bytes } };
}

/** Reads adapter_config.json and the safetensors header only (no weights). */
export async function readAdapterMeta(dir: string, id: string, base: ModelConfig | null = null): Promise<AdapterMeta> {
  warmLoadWorker(); // a registered adapter may be loaded soon: boot the reader thread now
  const cfg = await readConfig(dir, id);
  const header = await readHeader(weightsFile(dir, id), id);
  return plan(id, cfg, header, base).meta;
}

const CONVERTIBLE = new Set(["F32", "F16", "BF16"]);

/**
 * Reads, validates against the base model and converts an adapter to fp32 LoraWeights.
 * Config and safetensors header (a few KB) are read and validated here, synchronously, so every
 * refusal is an AdapterError naming the field; the weights are read and converted in the load
 * worker thread and handed back by transfer, so the engine loop keeps stepping meanwhile.
 */
export async function loadPeftAdapter(dir: string, id: string, config: ModelConfig): Promise<LoraWeights> {
  const cfg = await readConfig(dir, id);
  const file = weightsFile(dir, id);
  let header: SafetensorsHeader;
  try {
    header = readSafetensorsHeaderSync(file);
  } catch (err) {
    if (err instanceof EngineError) throw new AdapterError(id, err.message, { field: "adapter_model.safetensors", cause: err });
    throw err;
  }
  const { entries, meta } = plan(id, cfg, header, config);
  const reads: TensorRead[] = entries.flatMap((e) => [e.aKey, e.bKey]).map((key) => {
    const t = header.tensors.get(key)!;
    if (!CONVERTIBLE.has(t.dtype)) {
      const err = new SafetensorsError(path.basename(file), `tensor "${key}": dtype ${t.dtype} is not supported (F32, F16, BF16 are)`);
      throw new AdapterError(id, err.message, { field: "adapter_model.safetensors", cause: err });
    }
    return { name: key, dtype: t.dtype, begin: t.begin, end: t.end, n: numel(t.shape) };
  });
  let data: Float32Array[]; // per tensor, (numel) fp32, in `reads` order
  try {
    try {
      data = (await readTensorsInWorker(file, reads)).map((b) => new Float32Array(b));
    } catch (err) {
      if (!(err instanceof LoadWorkerUnavailable)) throw err;
      data = await readTensorsInThread(file, reads);
    }
  } catch (err) {
    throw new AdapterError(id, (err as Error).message, { field: "adapter_model.safetensors", cause: err });
  }
  const layers: Partial<Record<Projection, LoraPair>>[] = Array.from({ length: config.numLayers }, () => ({}));
  entries.forEach((e, i) => {
    layers[e.layer][e.proj] = { a: data[2 * i], b: data[2 * i + 1], r: e.r, scale: e.scale };
  });
  const maxRank = entries.reduce((m, e) => Math.max(m, e.r), 0);
  return { id, layers, bytes: meta.bytes, rank: maxRank, targetModules: meta.targetModules };
}

/** Fallback where no worker thread can run (blocks the loop while converting). */
async function readTensorsInThread(file: string, reads: TensorRead[]): Promise<Float32Array[]> {
  const loaded = await readSafetensorsFile(file);
  return reads.map((r) => {
    const values = tensorFloat32(loaded.bytes, loaded.header, r.name);
    // as load-worker.mjs checks: non-finite weights would make every adapted output NaN
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) throw new Error(`${path.basename(file)}: tensor "${r.name}" holds ${Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"} at element ${i}; an adapter's weights must be finite`);
    }
    return values;
  });
}
