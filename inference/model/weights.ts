/**
 * Base model weights from `model.safetensors` or the shards of `model.safetensors.index.json`,
 * in a chosen weight format (see ../kernels/tensor.ts). Names follow transformers' Llama/Mistral
 * modules; norms are always f32.
 *
 * - Kept as stored (bf16/f16/f32 checkpoints loaded in their own format): each matrix is a view of
 *   the memory-mapped file (the addon's `mmapFile`), no copy; paged in on first use.
 * - Converted (q8/q4, or a cast): tensor by tensor — read one, convert it, write it to the cache
 *   file, drop it — so memory never holds the model twice. The cache (`<cacheDir>/<key>.safetensors`,
 *   key = sha256 of the format, the checkpoint's headers, sizes and sampled bytes) is then
 *   memory-mapped, now and on every later start (seconds instead of a re-quantization).
 * - `auto` keeps the stored format when it fits in memory next to the KV pool, else q8.
 * Without the addon (or without a cache dir) converted weights simply stay in memory.
 */
import { readFile } from "node:fs/promises";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { ModelLoadError } from "../errors";
import { parameterCount, type ModelConfig } from "./config";
import { MappedSafetensors, readRawTensor, readSafetensorsHeader, SafetensorsReader, type RawTensor, type SafetensorsHeader } from "./safetensors";
import { WEIGHT_FORMATS, weightBytes, weightBytesOf, type HostWeight, type WeightFormat } from "../kernels/tensor";
import { convertWeight, formatForRole, loaderAddon, type WeightRole } from "../kernels/quantize";
import { fromBf16 } from "../kernels/bf16";
import { fromF16 } from "../kernels/f16";

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
  /** how the weights were loaded (readModelWeights sets it) */
  load?: WeightLoadInfo;
}

/** `--dtype` values: a weight format, or auto. */
export const DTYPE_CHOICES = ["auto", ...WEIGHT_FORMATS] as const;
export type DtypeChoice = (typeof DTYPE_CHOICES)[number];

export function isDtypeChoice(v: unknown): v is DtypeChoice {
  return typeof v === "string" && (DTYPE_CHOICES as readonly string[]).includes(v);
}

export interface WeightLoadInfo {
  /** the format of the decoder's matrices (with q4, embeddings and LM head are q8) */
  dtype: WeightFormat;
  /** what the user asked for */
  requested: DtypeChoice;
  /** the checkpoint's format */
  stored: WeightFormat;
  /** why this format, in one sentence (logged, in /info) */
  reason: string;
  /** bytes of all weights in the chosen formats */
  weightBytes: number;
  /** "mapped": used as stored from the checkpoint; "cache": mapped from the converted cache; "memory": converted in memory */
  source: "mapped" | "cache" | "memory" | "read";
  /** the converted-weights cache file, when one is used */
  cacheFile: string | null;
  /** whether this load wrote the cache (false: it was there already, or none) */
  cacheBuilt: boolean;
}

export interface ReadWeightsOptions {
  /** default "auto" */
  dtype?: DtypeChoice;
  /** the formats the backend's matmul accepts (default: all) */
  formats?: readonly WeightFormat[];
  /** where converted weights are cached (null: none) */
  cacheDir?: string | null;
  /** the KV pool auto must leave room for (default 2 GiB) */
  kvBytes?: number;
  /** memory to fit in (default os.totalmem()) */
  totalMem?: number;
  /** use the addon's mmap (default true when it is built) */
  mmap?: boolean;
  /** fraction of the weight bytes loaded so far, after each matrix */
  onProgress?: (fraction: number) => void;
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

const gb = (b: number) => (b / 1e9).toFixed(1);
const HEADROOM = 600 * 2 ** 20; // runtime, tokenizer, scratch, adapters

/** Refuses a model whose fp32 weights cannot fit in this machine's memory. */
export function checkMemory(config: ModelConfig): void {
  const need = parameterCount(config) * 4;
  const total = os.totalmem();
  if (need > total * 0.9) {
    throw new ModelLoadError(
      `the model needs ~${gb(need)} GB for its fp32 weights but this machine has ${gb(total)} GB of memory`,
      { field: "memory" },
    );
  }
}

/** A matrix of the model: its tensor name, shape and role (which decides its format under q4). */
interface MatrixSpec {
  name: string;
  rows: number;
  cols: number;
  role: WeightRole;
}

function matrixSpecs(c: ModelConfig, separateHead: boolean): MatrixSpec[] {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const h = c.hiddenSize;
  const out: MatrixSpec[] = [{ name: "model.embed_tokens.weight", rows: c.vocabSize, cols: h, role: "embed" }];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    out.push(
      { name: `${p}.self_attn.q_proj.weight`, rows: q, cols: h, role: "linear" },
      { name: `${p}.self_attn.k_proj.weight`, rows: kv, cols: h, role: "linear" },
      { name: `${p}.self_attn.v_proj.weight`, rows: kv, cols: h, role: "linear" },
      { name: `${p}.self_attn.o_proj.weight`, rows: h, cols: q, role: "linear" },
      { name: `${p}.mlp.gate_proj.weight`, rows: c.intermediateSize, cols: h, role: "linear" },
      { name: `${p}.mlp.up_proj.weight`, rows: c.intermediateSize, cols: h, role: "linear" },
      { name: `${p}.mlp.down_proj.weight`, rows: h, cols: c.intermediateSize, role: "linear" },
    );
  }
  if (separateHead) out.push({ name: "lm_head.weight", rows: c.vocabSize, cols: h, role: "lmHead" });
  return out;
}

const STORED: Record<string, WeightFormat | undefined> = { F32: "f32", BF16: "bf16", F16: "f16" };

/** Bytes of the model's weights if loaded as `dtype` (norms f32). */
export function modelWeightBytes(c: ModelConfig, dtype: WeightFormat, separateHead = !c.tieWordEmbeddings): number {
  let n = (2 * c.numLayers + 1) * c.hiddenSize * 4;
  for (const m of matrixSpecs(c, separateHead)) n += weightBytesOf(formatForRole(dtype, m.role), m.rows, m.cols);
  return n;
}

/**
 * The format to load in and why. An explicit dtype must be supported by the backend and fit;
 * auto keeps the stored format when weights + KV pool + 600 MiB fit in 90% of memory, else the
 * first of q8, q4 that fits.
 */
export function chooseDtype(
  requested: DtypeChoice, stored: WeightFormat, bytesOf: (f: WeightFormat) => number,
  opts: { kvBytes: number; totalMem: number; formats: readonly WeightFormat[] },
): { dtype: WeightFormat; reason: string } {
  const budget = opts.totalMem * 0.9 - opts.kvBytes - HEADROOM;
  const room = `${gb(opts.totalMem)} GB of memory with a ${gb(opts.kvBytes)} GB KV pool`;
  if (requested !== "auto") {
    if (!opts.formats.includes(requested)) {
      throw new ModelLoadError(`dtype ${requested}: this backend's matmul takes ${opts.formats.join(", ")} weights`, { field: "dtype" });
    }
    if (bytesOf(requested) > budget) {
      throw new ModelLoadError(`the model needs ~${gb(bytesOf(requested))} GB for its ${requested} weights, more than fits in ${room}; try a smaller --dtype (q8, q4)`, { field: "memory" });
    }
    return { dtype: requested, reason: `dtype ${requested} was asked for (checkpoint stored as ${stored})` };
  }
  const keep = opts.formats.includes(stored) ? stored : "f32";
  if (bytesOf(keep) <= budget) {
    return { dtype: keep, reason: `auto: the checkpoint's ${stored} weights (${gb(bytesOf(keep))} GB${keep !== stored ? ` as ${keep}` : ""}) fit in ${room}` };
  }
  for (const f of ["q8", "q4"] as const) {
    if (opts.formats.includes(f) && bytesOf(f) <= budget) {
      return { dtype: f, reason: `auto: the checkpoint's ${stored} weights (${gb(bytesOf(keep))} GB) do not fit in ${room}; ${f} (${gb(bytesOf(f))} GB)` };
    }
  }
  throw new ModelLoadError(`the model does not fit in ${room} even as q4 (~${gb(bytesOf("q4"))} GB)`, { field: "memory" });
}

/** The stored tensor as a weight of its own format (F32/BF16/F16 only). */
function asWeight(raw: RawTensor, spec: MatrixSpec): HostWeight {
  const { rows, cols } = spec;
  switch (raw.dtype) {
    case "F32": return { format: "f32", rows, cols, data: raw.data };
    case "BF16": return { format: "bf16", rows, cols, data: raw.data };
    case "F16": return { format: "f16", rows, cols, data: raw.data };
    default: throw new ModelLoadError(`weight "${spec.name}" has dtype ${raw.dtype}; F32, BF16 or F16 expected`, { field: spec.name });
  }
}

function toF32(raw: RawTensor, name: string): Float32Array {
  switch (raw.dtype) {
    case "F32": return raw.data;
    case "BF16": return fromBf16(raw.data);
    case "F16": return fromF16(raw.data);
    default: throw new ModelLoadError(`weight "${name}" has dtype ${raw.dtype}; F32, BF16 or F16 expected`, { field: name });
  }
}

// --- converted-weights cache ------------------------------------------------------------------

const CACHE_FORMAT = "lora-land-weights/1";
const ALIGN = 64;

/** Cache tensors of one converted matrix: (name, safetensors dtype, shape, the array it holds). */
function cacheParts(name: string, w: { format: WeightFormat; rows: number; cols: number }): { name: string; dtype: string; shape: number[]; bytes: number }[] {
  const G = Math.ceil(w.cols / 32);
  switch (w.format) {
    case "q8": return [{ name: `${name}#qs`, dtype: "I8", shape: [w.rows, G * 32], bytes: w.rows * G * 32 }, { name: `${name}#scales`, dtype: "F16", shape: [w.rows, G], bytes: w.rows * G * 2 }];
    case "q4": return [{ name: `${name}#qs`, dtype: "U8", shape: [w.rows, G * 16], bytes: w.rows * G * 16 }, { name: `${name}#scales`, dtype: "F16", shape: [w.rows, G], bytes: w.rows * G * 2 }];
    case "f32": return [{ name, dtype: "F32", shape: [w.rows, w.cols], bytes: w.rows * w.cols * 4 }];
    case "bf16": return [{ name, dtype: "BF16", shape: [w.rows, w.cols], bytes: w.rows * w.cols * 2 }];
    case "f16": return [{ name, dtype: "F16", shape: [w.rows, w.cols], bytes: w.rows * w.cols * 2 }];
  }
}

function partArrays(w: HostWeight): Uint8Array[] {
  const u8 = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return w.format === "q8" || w.format === "q4" ? [u8(w.qs), u8(w.scales)] : [u8(w.data)];
}

/**
 * sha256 over the cache format, the dtype and, per checkpoint file, its size, its header and
 * 16 spread 64 KiB samples of its data: a content key that costs milliseconds, not a full hash.
 */
function cacheKey(dtype: WeightFormat, headers: SafetensorsHeader[]): string {
  const h = createHash("sha256").update(`${CACHE_FORMAT}\0${dtype}\0`);
  for (const hd of [...headers].sort((a, b) => (path.basename(a.file) < path.basename(b.file) ? -1 : 1))) {
    const size = statSync(hd.file).size;
    h.update(`${path.basename(hd.file)}\0${size}\0`);
    h.update(JSON.stringify([...hd.tensors.values()].map((t) => [t.name, t.dtype, t.shape, t.begin, t.end])));
    const fd = openSync(hd.file, "r");
    try {
      const buf = Buffer.alloc(65536);
      for (let i = 0; i < 16; i++) {
        const n = readSync(fd, buf, 0, buf.length, Math.floor(((size - buf.length) * i) / 15) > 0 ? Math.floor(((size - buf.length) * i) / 15) : 0);
        h.update(buf.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
  }
  return h.digest("hex").slice(0, 32);
}

/** Writes converted matrices into a new cache file as they are produced; renamed into place at the end. */
class CacheWriter {
  private readonly fd: number;
  private readonly tmp: string;
  private readonly offsets = new Map<string, number>();

  constructor(readonly file: string, parts: { name: string; dtype: string; shape: number[]; bytes: number }[], key: string, dtype: WeightFormat) {
    let off = 0;
    const header: Record<string, unknown> = { __metadata__: { format: CACHE_FORMAT, key, dtype } };
    for (const p of parts) {
      off = Math.ceil(off / ALIGN) * ALIGN; // every tensor 64-byte aligned (gaps are allowed by our reader)
      header[p.name] = { dtype: p.dtype, shape: p.shape, data_offsets: [off, off + p.bytes] };
      this.offsets.set(p.name, off);
      off += p.bytes;
    }
    let json = JSON.stringify(header);
    json += " ".repeat((ALIGN - ((8 + Buffer.byteLength(json)) % ALIGN)) % ALIGN); // data starts aligned
    const hb = Buffer.from(json);
    const dataStart = 8 + hb.length;
    for (const [k, v] of this.offsets) this.offsets.set(k, v + dataStart);
    mkdirSync(path.dirname(file), { recursive: true });
    this.tmp = `${file}.tmp-${process.pid}`;
    this.fd = openSync(this.tmp, "w");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hb.length));
    writeSync(this.fd, len, 0, 8, 0);
    writeSync(this.fd, hb, 0, hb.length, 8);
    // the file's full size up front (a sparse tail until the last tensor is written)
    if (off > 0) writeSync(this.fd, Buffer.alloc(1), 0, 1, dataStart + off - 1);
  }

  write(name: string, w: HostWeight): void {
    const parts = cacheParts(name, w);
    const arrays = partArrays(w);
    parts.forEach((p, i) => {
      const pos = this.offsets.get(p.name)!;
      for (let done = 0; done < arrays[i].length; ) done += writeSync(this.fd, arrays[i], done, arrays[i].length - done, pos + done);
    });
  }

  finish(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmp, this.file);
  }

  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    rmSync(this.tmp, { force: true });
  }
}

/** The converted matrix `spec` (format `format`) from a mapped cache file, or null if absent/mismatched. */
function fromCache(cache: MappedSafetensors, spec: MatrixSpec, format: WeightFormat): HostWeight | null {
  const parts = cacheParts(spec.name, { format, rows: spec.rows, cols: spec.cols });
  const views: RawTensor[] = [];
  for (const p of parts) {
    const t = cache.header.tensors.get(p.name);
    if (!t || t.dtype !== p.dtype || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) return null;
    const v = cache.view(p.name);
    if (!v) return null;
    views.push(v);
  }
  const { rows, cols } = spec;
  switch (format) {
    case "q8": return { format, rows, cols, qs: views[0].data as Int8Array, scales: views[1].data as Uint16Array };
    case "q4": return { format, rows, cols, qs: views[0].data as Uint8Array, scales: views[1].data as Uint16Array };
    case "f32": return { format, rows, cols, data: views[0].data as Float32Array };
    default: return { format, rows, cols, data: views[0].data as Uint16Array };
  }
}

// --- loading ----------------------------------------------------------------------------------

export async function readModelWeights(dir: string, c: ModelConfig, opts: ReadWeightsOptions = {}): Promise<ModelWeights<HostWeight, Float32Array>> {
  const files = await weightFiles(dir);
  const headers = new Map<string, SafetensorsHeader>();
  for (const f of new Set(files.values())) headers.set(f, await readSafetensorsHeader(f));
  const fileOf = (name: string): string => {
    const file = files.get(name) ?? files.get("*");
    if (!file) throw new ModelLoadError(`weight "${name}" is not in any weight file`, { field: name });
    if (!headers.get(file)!.tensors.has(name)) throw new ModelLoadError(`weight "${name}" is missing from ${path.basename(file)}`, { field: name });
    return file;
  };
  const hasHead = (() => {
    const file = files.get("lm_head.weight") ?? files.get("*");
    return !!file && !!headers.get(file)?.tensors.has("lm_head.weight");
  })();
  if (!c.tieWordEmbeddings && !hasHead) throw new ModelLoadError(`weight "lm_head.weight" is missing and tie_word_embeddings is false`, { field: "lm_head.weight" });
  const separateHead = !c.tieWordEmbeddings;
  const specs = matrixSpecs(c, separateHead);
  for (const s of specs) {
    const t = headers.get(fileOf(s.name))!.tensors.get(s.name)!;
    if (t.shape.length !== 2 || t.shape[0] !== s.rows || t.shape[1] !== s.cols) {
      throw new ModelLoadError(`weight "${s.name}" has shape [${t.shape}] but config.json implies [${s.rows},${s.cols}]`, { field: s.name });
    }
  }
  const probe = specs[1] ?? specs[0];
  const storedDtype = headers.get(fileOf(probe.name))!.tensors.get(probe.name)!.dtype;
  const stored = STORED[storedDtype];
  if (!stored) throw new ModelLoadError(`weight "${probe.name}" has dtype ${storedDtype}; F32, BF16 or F16 expected`, { field: probe.name });

  const requested = opts.dtype ?? "auto";
  const { dtype, reason } = chooseDtype(requested, stored, (f) => modelWeightBytes(c, f, separateHead), {
    kvBytes: opts.kvBytes ?? 2 * 2 ** 30,
    totalMem: opts.totalMem ?? os.totalmem(),
    formats: opts.formats ?? WEIGHT_FORMATS,
  });

  const addon = opts.mmap === false ? null : loaderAddon();
  const mapped = new Map<string, MappedSafetensors>();
  const mapping = (file: string): MappedSafetensors => {
    let m = mapped.get(file);
    if (!m) {
      m = MappedSafetensors.open(file, addon!.mmapFile);
      mapped.set(file, m);
    }
    return m;
  };
  const readers = new Map<string, SafetensorsReader>();
  const reader = async (file: string): Promise<SafetensorsReader> => {
    let r = readers.get(file);
    if (!r) {
      r = await SafetensorsReader.open(file);
      readers.set(file, r);
    }
    return r;
  };
  /** the stored tensor: a view of the mapping when `view` and possible, else read into memory */
  const raw = async (name: string, view: boolean): Promise<RawTensor> => {
    const file = fileOf(name);
    if (view && addon) {
      const m = mapping(file);
      return m.view(name) ?? m.copy(name);
    }
    return readRawTensor(await reader(file), name);
  };
  const vector = async (name: string): Promise<Float32Array> => {
    const t = headers.get(fileOf(name))!.tensors.get(name)!;
    if (t.shape.length !== 1 || t.shape[0] !== c.hiddenSize) throw new ModelLoadError(`weight "${name}" has shape [${t.shape}] but config.json implies [${c.hiddenSize}]`, { field: name });
    return toF32(await raw(name, false), name);
  };

  // the cache, when anything is converted and it can be mapped afterwards
  const targetOf = (s: MatrixSpec) => formatForRole(dtype, s.role);
  const storedOf = (s: MatrixSpec) => STORED[headers.get(fileOf(s.name))!.tensors.get(s.name)!.dtype];
  const converted = specs.filter((s) => targetOf(s) !== storedOf(s));
  let cache: MappedSafetensors | null = null;
  let writer: CacheWriter | null = null;
  let cacheFile: string | null = null;
  if (converted.length > 0 && addon && opts.cacheDir) {
    cacheFile = path.join(opts.cacheDir, `${cacheKey(dtype, [...headers.values()])}.safetensors`);
    if (existsSync(cacheFile)) {
      try {
        const m = MappedSafetensors.open(cacheFile, addon.mmapFile);
        if (m.header.metadata.format === CACHE_FORMAT && converted.every((s) => fromCache(m, s, targetOf(s)) !== null)) cache = m;
      } catch {
        cache = null; // unreadable: rebuilt below
      }
      if (!cache) rmSync(cacheFile, { force: true });
    }
    if (!cache) {
      const key = path.basename(cacheFile, ".safetensors");
      writer = new CacheWriter(cacheFile, converted.flatMap((s) => cacheParts(s.name, { format: targetOf(s), rows: s.rows, cols: s.cols })), key, dtype);
    }
  }

  const total = specs.reduce((n, s) => n + weightBytesOf(targetOf(s), s.rows, s.cols), 0);
  let done = 0;
  const matrices = new Map<string, HostWeight>();
  try {
    for (const s of specs) {
      const target = targetOf(s);
      let w: HostWeight | null;
      if (target === storedOf(s)) {
        w = asWeight(await raw(s.name, true), s);
      } else if (cache) {
        w = fromCache(cache, s, target)!;
      } else {
        w = convertWeight(asWeight(await raw(s.name, false), s), target, s.name);
        if (writer) {
          // written to the cache and dropped: mapped back below, so a first load never holds the
          // converted model in anonymous memory next to its mapped copy (7B q8: 7.7 GB, not 15)
          writer.write(s.name, w);
          w = null;
        }
      }
      if (w) matrices.set(s.name, w);
      done += weightBytesOf(target, s.rows, s.cols);
      opts.onProgress?.(done / total);
      // let the event loop turn between tensors (health checks answer while loading)
      await new Promise<void>((r) => setImmediate(r));
    }
    let cacheBuilt = false;
    if (writer) {
      writer.finish();
      writer = null;
      cacheBuilt = true;
      // the converted matrices as views of the cache (file-backed, shared, reclaimable)
      cache = MappedSafetensors.open(cacheFile!, addon!.mmapFile);
      for (const s of converted) matrices.set(s.name, fromCache(cache, s, targetOf(s))!);
    }
    const m = (name: string) => matrices.get(name)!;
    const layers: LayerWeights[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}`;
      layers.push({
        inputNorm: await vector(`${p}.input_layernorm.weight`),
        q: m(`${p}.self_attn.q_proj.weight`), k: m(`${p}.self_attn.k_proj.weight`), v: m(`${p}.self_attn.v_proj.weight`), o: m(`${p}.self_attn.o_proj.weight`),
        postNorm: await vector(`${p}.post_attention_layernorm.weight`),
        gate: m(`${p}.mlp.gate_proj.weight`), up: m(`${p}.mlp.up_proj.weight`), down: m(`${p}.mlp.down_proj.weight`),
      });
    }
    const embed = m("model.embed_tokens.weight");
    const lmHead = separateHead ? m("lm_head.weight") : embed;
    const finalNorm = await vector("model.norm.weight");
    const bytes = [...matrices.values()].reduce((n, w) => n + weightBytes(w), 0) + (2 * c.numLayers + 1) * c.hiddenSize * 4;
    const source: WeightLoadInfo["source"] = converted.length > 0 ? (cache ? "cache" : "memory") : addon ? "mapped" : "read";
    const load: WeightLoadInfo = { dtype, requested, stored, reason, weightBytes: bytes, source, cacheFile: cache ? cacheFile : null, cacheBuilt };
    return { embed, layers, finalNorm, lmHead, load };
  } catch (err) {
    writer?.abort();
    throw err;
  } finally {
    await Promise.all([...readers.values()].map((r) => r.close()));
  }
}
