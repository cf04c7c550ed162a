/**
 * Bring-your-own adapter: validation of an uploaded PEFT LoRA folder (adapter_config.json +
 * adapter_model.safetensors) against the served base model's config, and its atomic placement
 * under DATA_DIR/adapters/<id> (written to a temp dir, then renamed; nothing left on failure).
 * Every rejection is an UploadError with an HTTP status, a code and a message naming the part.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";

export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
export const CONFIG_FILE = "adapter_config.json";
export const WEIGHTS_FILE = "adapter_model.safetensors";
export const ADAPTER_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export class UploadError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "UploadError";
  }
}

const invalid = (message: string) => new UploadError(422, "INVALID_ADAPTER", message);

export interface LoraConfig {
  r: number;
  loraAlpha: number;
  targetModules: string[];
  rankPattern: Record<string, number>;
}

/** adapter_config.json: a PEFT LoRA config we can serve (no DoRA, no extra saved modules). */
export function parseAdapterConfig(text: string): LoraConfig {
  let c: unknown;
  try {
    c = JSON.parse(text);
  } catch (err) {
    throw invalid(`${CONFIG_FILE} is not valid JSON (${(err as Error).message})`);
  }
  if (!c || typeof c !== "object" || Array.isArray(c)) throw invalid(`${CONFIG_FILE} must be a JSON object`);
  const cfg = c as Record<string, unknown>;
  if (cfg.peft_type !== "LORA") throw invalid(`${CONFIG_FILE}: peft_type must be "LORA" (got ${JSON.stringify(cfg.peft_type ?? null)})`);
  if (!Number.isInteger(cfg.r) || (cfg.r as number) < 1 || (cfg.r as number) > 1024) throw invalid(`${CONFIG_FILE}: r must be an integer between 1 and 1024`);
  if (typeof cfg.lora_alpha !== "number" || !Number.isFinite(cfg.lora_alpha)) throw invalid(`${CONFIG_FILE}: lora_alpha must be a number`);
  const targets = typeof cfg.target_modules === "string" ? [cfg.target_modules] : cfg.target_modules;
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => typeof t === "string")) throw invalid(`${CONFIG_FILE}: target_modules must be a non-empty list of module names`);
  if (cfg.use_dora === true) throw invalid(`${CONFIG_FILE}: use_dora adapters are not supported`);
  if (Array.isArray(cfg.modules_to_save) && cfg.modules_to_save.length) throw invalid(`${CONFIG_FILE}: modules_to_save is not supported (the adapter must only hold LoRA weights)`);
  const rankPattern = cfg.rank_pattern && typeof cfg.rank_pattern === "object" ? (cfg.rank_pattern as Record<string, number>) : {};
  return { r: cfg.r as number, loraAlpha: cfg.lora_alpha, targetModules: targets as string[], rankPattern };
}

const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const FLOAT_DTYPES = new Set(["F32", "F16", "BF16"]);

export interface TensorEntry {
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * The safetensors header, checked: 8-byte little-endian length, a JSON object, known dtypes,
 * integer shapes, offsets that fit the file, match dtype × shape, and do not overlap.
 */
export function parseSafetensorsHeader(buf: Uint8Array): Map<string, TensorEntry> {
  if (buf.byteLength < 8) throw invalid(`${WEIGHTS_FILE} is truncated: ${buf.byteLength} bytes, no header`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen < 2 || 8 + headerLen > buf.byteLength || headerLen > 100 * 1024 * 1024) {
    throw invalid(`${WEIGHTS_FILE}: header length ${headerLen} does not fit a ${buf.byteLength}-byte file (truncated or not safetensors)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(8, 8 + headerLen)));
  } catch {
    throw invalid(`${WEIGHTS_FILE}: the header is not valid JSON (not a safetensors file?)`);
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) throw invalid(`${WEIGHTS_FILE}: the header must be a JSON object`);
  const dataLen = buf.byteLength - 8 - headerLen;
  const tensors = new Map<string, TensorEntry>();
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t?.dtype !== "string" || !(t.dtype in DTYPE_BYTES)) throw invalid(`${WEIGHTS_FILE}: tensor "${name}" has an unknown dtype ${JSON.stringify(t?.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw invalid(`${WEIGHTS_FILE}: tensor "${name}" has a bad shape`);
    const offs = t.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[0] > offs[1]) throw invalid(`${WEIGHTS_FILE}: tensor "${name}" has bad data_offsets`);
    const [begin, end] = offs as [number, number];
    const want = (t.shape as number[]).reduce((a, d) => a * d, 1) * DTYPE_BYTES[t.dtype]!;
    if (end - begin !== want) throw invalid(`${WEIGHTS_FILE}: tensor "${name}" holds ${end - begin} bytes, its shape and dtype need ${want}`);
    if (end > dataLen) throw invalid(`${WEIGHTS_FILE}: tensor "${name}" ends at byte ${end} of a ${dataLen}-byte data section (truncated file)`);
    tensors.set(name, { dtype: t.dtype, shape: t.shape as number[], begin, end });
  }
  const spans = [...tensors.entries()].sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![1].begin < spans[i - 1]![1].end) throw invalid(`${WEIGHTS_FILE}: tensors "${spans[i - 1]![0]}" and "${spans[i]![0]}" overlap`);
  }
  return tensors;
}

/** What the shapes are checked against: the served base model's config.json. */
export interface BaseShape {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number;
}

const LORA_KEY = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.lora_(A|B)(?:\.default)?\.weight$/;

/** (in, out) features of a projection of the base model. */
function projectionDims(base: BaseShape, proj: string): [number, number] {
  const headDim = base.head_dim ?? base.hidden_size / base.num_attention_heads;
  const q = base.num_attention_heads * headDim;
  const kv = (base.num_key_value_heads ?? base.num_attention_heads) * headDim;
  switch (proj) {
    case "q_proj":
      return [base.hidden_size, q];
    case "k_proj":
    case "v_proj":
      return [base.hidden_size, kv];
    case "o_proj":
      return [q, base.hidden_size];
    case "gate_proj":
    case "up_proj":
      return [base.hidden_size, base.intermediate_size];
    default:
      return [base.intermediate_size, base.hidden_size];
  }
}

/** Every tensor is a LoRA A or B of a layer the base has, with the base's dimensions and a consistent rank. */
export function checkShapes(tensors: Map<string, TensorEntry>, config: LoraConfig, base: BaseShape): { pairs: number } {
  const seen = new Map<string, { a?: number[]; b?: number[] }>();
  for (const [name, t] of tensors) {
    const m = LORA_KEY.exec(name);
    if (!m) throw invalid(`${WEIGHTS_FILE}: unexpected tensor "${name}" (only LoRA A/B weights of the attention and MLP projections are served)`);
    if (!FLOAT_DTYPES.has(t.dtype)) throw invalid(`${WEIGHTS_FILE}: tensor "${name}" is ${t.dtype}; LoRA weights must be F32, F16 or BF16`);
    const layer = Number(m[1]);
    if (layer >= base.num_hidden_layers) throw invalid(`${WEIGHTS_FILE}: tensor "${name}" is for layer ${layer}; the base model has ${base.num_hidden_layers} layers`);
    if (t.shape.length !== 2) throw invalid(`${WEIGHTS_FILE}: tensor "${name}" must be 2-D, got shape [${t.shape}]`);
    const key = `${layer}.${m[3]}`;
    const entry = seen.get(key) ?? {};
    if (m[4] === "A") entry.a = t.shape;
    else entry.b = t.shape;
    seen.set(key, entry);
  }
  if (seen.size === 0) throw invalid(`${WEIGHTS_FILE} holds no LoRA weights`);
  for (const [key, { a, b }] of seen) {
    const proj = key.split(".")[1]!;
    if (!a || !b) throw invalid(`${WEIGHTS_FILE}: layer ${key.split(".")[0]} ${proj} has lora_${a ? "A" : "B"} without lora_${a ? "B" : "A"}`);
    const [inF, outF] = projectionDims(base, proj);
    const r = a[0]!;
    if (a[1] !== inF || b[0] !== outF || b[1] !== r) {
      throw invalid(
        `${WEIGHTS_FILE}: layer ${key.split(".")[0]} ${proj} has lora_A [${a}] and lora_B [${b}]; the base model needs [r, ${inF}] and [${outF}, r] (an adapter of another base model?)`,
      );
    }
    // rank_pattern lets modules differ from r; A and B must still agree with each other (checked above)
    if (Object.keys(config.rankPattern).length === 0 && r !== config.r) throw invalid(`${WEIGHTS_FILE}: layer ${key.split(".")[0]} ${proj} has rank ${r}; ${CONFIG_FILE} says r=${config.r}`);
  }
  return { pairs: seen.size };
}

/**
 * Write the two files to `<root>/<id>/` atomically: a temp dir in the same folder, fsynced
 * files, then one rename. An existing adapter of that id is a 409. Nothing is left on failure.
 */
export async function writeAdapterDir(root: string, id: string, files: { config: Uint8Array; weights: Uint8Array }): Promise<string> {
  await fs.mkdir(root, { recursive: true });
  const final = path.join(root, id);
  if (await fs.stat(final).then(() => true, () => false)) throw new UploadError(409, "ADAPTER_EXISTS", `an adapter "${id}" already exists: pick another id`);
  const tmp = path.join(root, `.upload-${id}-${randomBytes(6).toString("hex")}`);
  try {
    await fs.mkdir(tmp);
    for (const [name, data] of [[CONFIG_FILE, files.config], [WEIGHTS_FILE, files.weights]] as const) {
      const fh = await fs.open(path.join(tmp, name), "wx");
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await fs.rename(tmp, final);
    return final;
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    if ((err as NodeJS.ErrnoException).code === "ENOTEMPTY" || (err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new UploadError(409, "ADAPTER_EXISTS", `an adapter "${id}" already exists: pick another id`);
    }
    throw err;
  }
}
