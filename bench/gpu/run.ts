/**
 * `npm run bench:gpu [-- --size 7b|small] [--device gpu]`: the engine's forward pass on WebGPU
 * over a synthetic model — Mistral-7B's shape by default (hidden 4096, 32 layers, 32 heads / 8 KV
 * heads, FFN 14336, vocab 32000, f16 weights) with 32 r=8 q/v adapters; `--size small` is a
 * shape lavapipe (software Vulkan) runs in a minute, so the code path is exercised without a GPU.
 *
 * Reports: the device's copy bandwidth (2 x bytes / time of a buffer-to-buffer copy: each byte is
 * read and written), batch-1 decode tok/s and its fraction of the bandwidth bound (weight bytes
 * per step / copy bandwidth), 32 decode streams on the base model vs 32 streams on 32 distinct
 * adapters, prefill tok/s of one prompt, and the cold load of one adapter (upload of its A/B).
 * Weight values are random; each shape's host array is generated once, cached outside the repo
 * (BENCH_GPU_CACHE, default ~/.cache/loraland/bench-gpu: a 7B run's distinct shapes are ~0.5 GB,
 * its adapters ~0.4 GB) and uploaded per layer (device memory and bandwidth are those of the full
 * model). Then the fusions (Model.fusions: residual add into o_proj/down_proj, SiLU·mul into
 * down_proj's input) are measured one at a time against none, interleaved in rounds, as medians,
 * and 32 greedy rows sampled on the device against their logits read back and sampled on the host.
 * Where python3 has torch, transformers and peft, bench/gpu/peft_bench.py runs the same shape
 * side by side (transformers + PEFT, mixed batch via adapter_names); elsewhere one line says why not.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { f32ToF16Bits } from "../../inference/kernels/f16";
import { weightBytesOf, type HostWeight } from "../../inference/kernels/tensor";
import type { LoraWeights } from "../../inference/adapters/lora-weights";
import type { ForwardBatch } from "../../inference/model/batch";
import type { ModelConfig } from "../../inference/model/config";
import { KvCache } from "../../inference/model/kv-cache";
import { Model, uploadModelWeights } from "../../inference/model/model";
import type { ModelWeights } from "../../inference/model/weights";
import { createWebGpuBackend, type WebGpuBackend } from "../../inference/webgpu/backend";
import { USAGE } from "../../inference/webgpu/buffers";
import { forwardAndSample, type DeviceRow } from "../../inference/webgpu/sampling";
import { GREEDY, RequestSampler } from "../../inference/engine/sampler";

const SHAPES = {
  "7b": { hiddenSize: 4096, numLayers: 32, numHeads: 32, numKvHeads: 8, intermediateSize: 14336, vocabSize: 32000, prompt: 512, context: 512, steps: 32, copyMiB: 1024 },
  small: { hiddenSize: 256, numLayers: 4, numHeads: 8, numKvHeads: 2, intermediateSize: 704, vocabSize: 2048, prompt: 128, context: 128, steps: 8, copyMiB: 64 },
} as const;

const { values, positionals } = parseArgs({ options: { size: { type: "string" }, adapters: { type: "string", default: "32" } }, allowPositionals: true });
// `npm run bench:gpu --size small` (no `--`): npm keeps `--size` as its own config and passes "small" on
const size = (values.size ?? positionals[0] ?? "7b") as keyof typeof SHAPES;
if (!(size in SHAPES)) {
  process.stderr.write(`bench:gpu: --size must be ${Object.keys(SHAPES).join(" or ")}\n`);
  process.exit(2);
}
const S = SHAPES[size];
const numAdapters = Number(values.adapters);
const config: ModelConfig = {
  architecture: "MistralForCausalLM", modelType: "mistral", hiddenSize: S.hiddenSize, numLayers: S.numLayers, numHeads: S.numHeads,
  numKvHeads: S.numKvHeads, headDim: S.hiddenSize / S.numHeads, intermediateSize: S.intermediateSize, vocabSize: S.vocabSize,
  ropeTheta: 1e6, rmsNormEps: 1e-5, slidingWindow: 0, maxPositionEmbeddings: 32768, tieWordEmbeddings: false,
  bosTokenId: 1, eosTokenIds: [2], storedDtype: "float16",
};

let seed = 12345;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1;
const CACHE = process.env.BENCH_GPU_CACHE || path.join(os.homedir(), ".cache", "loraland", "bench-gpu");
const cacheUse = { hits: 0, written: 0, generateS: 0 };

/** bytes of `name` in the cache, generated (and written, renamed into place) on first use */
function cached(name: string, bytes: number, generate: () => Uint8Array): Uint8Array {
  const file = path.join(CACHE, name);
  if (existsSync(file)) {
    const b = readFileSync(file);
    if (b.byteLength === bytes) { cacheUse.hits++; return new Uint8Array(b.buffer, b.byteOffset, b.byteLength); }
  }
  const t = performance.now();
  const out = generate();
  cacheUse.generateS += (performance.now() - t) / 1000;
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(`${file}.${process.pid}.tmp`, out);
  renameSync(`${file}.${process.pid}.tmp`, file);
  cacheUse.written++;
  return out;
}

/** a (rows, cols) f16 weight of small random values; one per shape, shared by the layers */
const f16Cache = new Map<string, HostWeight>();
function f16(rows: number, cols: number): HostWeight {
  const key = `${rows}x${cols}`;
  let w = f16Cache.get(key);
  if (!w) {
    // the seed depends on the shape only, so a cached file is the same whatever was generated before
    const bytes = cached(`w-${key}-f16-v1.bin`, rows * cols * 2, () => {
      let s = (rows * 73856093) ^ (cols * 19349663);
      const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1;
      const data = new Uint16Array(rows * cols);
      const table = Array.from({ length: 4096 }, () => f32ToF16Bits(r() * 0.02));
      for (let i = 0; i < data.length; i++) data[i] = table[(i * 2654435761) >>> 20];
      return new Uint8Array(data.buffer);
    });
    const data = new Uint16Array(bytes.buffer, bytes.byteOffset, rows * cols);
    f16Cache.set(key, (w = { format: "f16", rows, cols, data }));
  }
  return w;
}
const ones = (n: number) => new Float32Array(n).fill(1);
const randF32 = (n: number, scale: number) => Float32Array.from({ length: n }, () => rand() * scale);

function hostWeights(c: ModelConfig): ModelWeights {
  const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
  return {
    embed: f16(c.vocabSize, c.hiddenSize),
    layers: Array.from({ length: c.numLayers }, () => ({
      inputNorm: ones(c.hiddenSize), postNorm: ones(c.hiddenSize),
      q: f16(qDim, c.hiddenSize), k: f16(kvDim, c.hiddenSize), v: f16(kvDim, c.hiddenSize), o: f16(c.hiddenSize, qDim),
      gate: f16(c.intermediateSize, c.hiddenSize), up: f16(c.intermediateSize, c.hiddenSize), down: f16(c.hiddenSize, c.intermediateSize),
    })),
    finalNorm: ones(c.hiddenSize),
    lmHead: f16(c.vocabSize, c.hiddenSize),
  };
}

/** n synthetic r=8 q/v adapters; all their floats in one cached file (layer by layer: q A, q B, v A, v B) */
function adapters(n: number, c: ModelConfig, r = 8): LoraWeights[] {
  const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
  const perLayer = r * c.hiddenSize + qDim * r + r * c.hiddenSize + kvDim * r;
  const floats = n * c.numLayers * perLayer;
  const bytes = cached(`adapters-${size}-${n}-r${r}-v1.bin`, floats * 4, () => new Uint8Array(randF32(floats, 0.01).buffer));
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, floats);
  let o = 0;
  const take = (len: number) => all.subarray(o, (o += len));
  return Array.from({ length: n }, (_, id) => ({
    id: `synthetic-${id}`, rank: r, targetModules: ["q_proj", "v_proj"], bytes: 0,
    layers: Array.from({ length: c.numLayers }, () => ({
      q_proj: { a: take(r * c.hiddenSize), b: take(qDim * r), r, scale: 2 },
      v_proj: { a: take(r * c.hiddenSize), b: take(kvDim * r), r, scale: 2 },
    })),
  }));
}

/** one decode token per sequence s at position pos, sequence s owning blocks [s*perSeq, (s+1)*perSeq) */
function decodeBatch(seqs: number, pos: number, perSeq: number, blockSize: number, adapters: (LoraWeights | null)[]): ForwardBatch {
  const slots = Int32Array.from({ length: seqs }, (_, s) => (s * perSeq + Math.floor(pos / blockSize)) * blockSize + (pos % blockSize));
  const blockTables = Int32Array.from({ length: seqs * perSeq }, (_, i) => i);
  const distinct = adapters.length === seqs;
  return {
    tokens: Int32Array.from({ length: seqs }, (_, s) => (s * 7 + pos) % config.vocabSize), positions: new Int32Array(seqs).fill(pos),
    seqIndex: Int32Array.from({ length: seqs }, (_, s) => s), slots, blockTables, maxBlocksPerSeq: perSeq,
    segStarts: distinct ? Int32Array.from({ length: seqs + 1 }, (_, s) => s) : Int32Array.from([0, seqs]),
    adapters, logitRows: Int32Array.from({ length: seqs }, (_, s) => s),
  };
}

function prefillBatch(T: number, perSeq: number): ForwardBatch {
  return {
    tokens: Int32Array.from({ length: T }, (_, t) => (t * 13) % config.vocabSize), positions: Int32Array.from({ length: T }, (_, t) => t),
    seqIndex: new Int32Array(T), slots: Int32Array.from({ length: T }, (_, t) => t), blockTables: Int32Array.from({ length: perSeq }, (_, i) => i),
    maxBlocksPerSeq: perSeq, segStarts: Int32Array.from([0, T]), adapters: [null], logitRows: Int32Array.from([T - 1]),
  };
}

async function copyBandwidth(be: WebGpuBackend, mib: number): Promise<number> {
  const dev = be.ctx.device;
  const bytes = Math.min(mib * 2 ** 20, be.ctx.limits.maxBufferSize);
  const a = dev.createBuffer({ size: bytes, usage: USAGE.COPY_SRC | USAGE.COPY_DST });
  const b = dev.createBuffer({ size: bytes, usage: USAGE.COPY_SRC | USAGE.COPY_DST });
  const once = async (n: number) => {
    const enc = dev.createCommandEncoder();
    for (let i = 0; i < n; i++) enc.copyBufferToBuffer(a, 0, b, 0, bytes);
    dev.queue.submit([enc.finish()]);
    await dev.queue.onSubmittedWorkDone();
  };
  await once(1);
  const reps = 5;
  const t = performance.now();
  await once(reps);
  const s = (performance.now() - t) / 1000;
  a.destroy();
  b.destroy();
  return (2 * bytes * reps) / s;
}

/** median seconds of one step over n steps, after a warm-up step (pipelines compiled, bind groups cached) */
async function timeSteps(n: number, step: (i: number) => Promise<unknown>): Promise<number> {
  await step(-1);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await step(i);
    times.push((performance.now() - t) / 1000);
  }
  return median(times);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** transformers + PEFT on the same shape, when python3 has them; else why not (one line) */
function peftSideBySide(): Record<string, unknown> | string {
  try {
    execFileSync("python3", ["-c", "import torch, transformers, peft"], { stdio: ["ignore", "ignore", "pipe"], timeout: 120_000 });
  } catch (err) {
    const why = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim().split("\n").pop() || "python3 not found";
    return `skipped: python3 with torch, transformers and peft is not available here (${why})`;
  }
  try {
    const out = execFileSync("python3", [path.join(import.meta.dirname, "peft_bench.py"), "--size", size, "--adapters", String(numAdapters)], { encoding: "utf8", timeout: 3_600_000 });
    return JSON.parse(out.trim().split("\n").pop()!) as Record<string, unknown>;
  } catch (err) {
    return `failed: ${String((err as { stdout?: string }).stdout ?? (err as Error).message).trim().split("\n").pop()}`;
  }
}

const be = await createWebGpuBackend({ allowSoftware: true });
process.stderr.write(`device: ${be.name}; size ${size}: hidden ${S.hiddenSize}, ${S.numLayers} layers, ${S.numHeads}/${S.numKvHeads} heads, FFN ${S.intermediateSize}, vocab ${S.vocabSize}, f16\n`);
try {
  const tLoad = performance.now();
  const model = new Model(config, uploadModelWeights(be, hostWeights(config)), be);
  await be.sync();
  const loadS = (performance.now() - tLoad) / 1000;
  const qDim = config.numHeads * config.headDim, kvDim = config.numKvHeads * config.headDim;
  let weightBytes = 2 * weightBytesOf("f16", config.vocabSize, config.hiddenSize);
  weightBytes += config.numLayers * (weightBytesOf("f16", qDim + 2 * kvDim, config.hiddenSize) + weightBytesOf("f16", config.hiddenSize, qDim) + 3 * weightBytesOf("f16", config.intermediateSize, config.hiddenSize));
  const bw = await copyBandwidth(be, S.copyMiB);

  const blockSize = 16;
  const perSeq = Math.ceil((S.context + S.steps + 2) / blockSize);
  const streams = 32;
  const kv = new KvCache(config, streams * perSeq, blockSize, (n) => be.allocF32(n));

  // prefill fills sequence 0's context; the decode positions continue after it
  const prefillS = await timeSteps(1, () => model.forwardAsync(prefillBatch(S.prompt, perSeq), kv));
  const decode1 = await timeSteps(S.steps, (i) => model.forwardAsync(decodeBatch(1, S.context + Math.max(i, 0), perSeq, blockSize, [null]), kv));
  // the host's share of a batch-1 step: recording its dispatches (what overlapping step N's
  // readback with step N+1's scheduling and recording could hide), vs the whole step
  const recordTimes: number[] = [];
  await timeSteps(S.steps, async (i) => {
    const t = performance.now();
    const logits = model.forwardTensor(decodeBatch(1, S.context + Math.max(i, 0), perSeq, blockSize, [null]), kv);
    if (i >= 0) recordTimes.push((performance.now() - t) / 1000);
    await be.readF32(logits, config.vocabSize);
  });
  const base32 = await timeSteps(S.steps, (i) => model.forwardAsync(decodeBatch(streams, S.context + Math.max(i, 0), perSeq, blockSize, [null]), kv));
  const tAdapters = performance.now();
  const synthetic = adapters(numAdapters, config);
  const hostAdapterS = (performance.now() - tAdapters) / 1000;
  // cold load of one adapter: its A/B uploaded to the device (what the engine does when it becomes resident)
  const tCold = performance.now();
  model.uploadAdapter(synthetic[0]!);
  await be.sync();
  const coldS = (performance.now() - tCold) / 1000;
  const mixed = Array.from({ length: streams }, (_, s) => synthetic[s % synthetic.length]!);
  const lora32 = await timeSteps(S.steps, (i) => model.forwardAsync(decodeBatch(streams, S.context + Math.max(i, 0), perSeq, blockSize, mixed), kv));

  // fusions, one at a time against none and both, interleaved in rounds (the machine may be shared)
  const variants = { none: { residual: false, swiglu: false }, residual: { residual: true, swiglu: false }, swiglu: { residual: false, swiglu: true }, both: { residual: true, swiglu: true } };
  const fusionTimes: Record<string, { b1: number[]; s32: number[]; prefill: number[] }> = {};
  for (const name of Object.keys(variants)) fusionTimes[name] = { b1: [], s32: [], prefill: [] };
  const rounds = 5;
  for (let round = 0; round < rounds; round++) {
    const names = Object.keys(variants);
    for (let v = 0; v < names.length; v++) {
      const name = names[(v + round) % names.length]!;
      Object.assign(model.fusions, variants[name as keyof typeof variants]);
      const t = fusionTimes[name]!;
      t.b1.push(await timeSteps(S.steps, (i) => model.forwardAsync(decodeBatch(1, S.context + Math.max(i, 0), perSeq, blockSize, [null]), kv)));
      t.s32.push(await timeSteps(S.steps, (i) => model.forwardAsync(decodeBatch(streams, S.context + Math.max(i, 0), perSeq, blockSize, mixed), kv)));
      if (round < 3) t.prefill.push(await timeSteps(1, () => model.forwardAsync(prefillBatch(S.prompt, perSeq), kv)));
    }
  }
  Object.assign(model.fusions, variants.both);
  const ms = (s: number) => +(s * 1000).toFixed(2);
  const fusions = Object.fromEntries(Object.entries(fusionTimes).map(([name, t]) => [name, {
    decode_b1_ms: ms(median(t.b1)), decode_32_adapters_ms: ms(median(t.s32)), prefill_ms: ms(median(t.prefill)),
  }]));
  // sampling 32 greedy rows: the logits read back and sampled by the CPU sampler, vs on the device
  // (only the ids and normalizers come back), interleaved in rounds
  const samplers = Array.from({ length: streams }, (_, s) => new RequestSampler(GREEDY, s, []));
  const rows: DeviceRow[] = samplers.map((sampler) => ({ sampler, topAlternatives: 0, constrained: false }));
  const sampleTimes = { host: [] as number[], device: [] as number[] };
  for (let round = 0; round < 3; round++) {
    sampleTimes.host.push(await timeSteps(S.steps, async (i) => {
      const l = await model.forwardAsync(decodeBatch(streams, S.context + Math.max(i, 0), perSeq, blockSize, mixed), kv);
      samplers.forEach((sm, r) => sm.sample(l.subarray(r * config.vocabSize, (r + 1) * config.vocabSize)));
    }));
    sampleTimes.device.push(await timeSteps(S.steps, (i) => forwardAndSample(model, decodeBatch(streams, S.context + Math.max(i, 0), perSeq, blockSize, mixed), kv, rows)));
  }
  const peft = peftSideBySide();
  if (typeof peft === "string") process.stderr.write(`transformers+PEFT: ${peft}\n`);

  const result = {
    device: be.name, software: be.ctx.software, size, weight_gb: +(weightBytes / 1e9).toFixed(3), upload_s: +loadS.toFixed(2),
    copy_gbps: +(bw / 1e9).toFixed(1),
    decode_b1_tok_s: +(1 / decode1).toFixed(2), decode_b1_step_ms: +(decode1 * 1000).toFixed(2), decode_b1_host_record_ms: +(median(recordTimes) * 1000).toFixed(2), decode_b1_bound_fraction: +((weightBytes / bw) / decode1).toFixed(3),
    decode_32_base_tok_s: +(streams / base32).toFixed(1), decode_32_adapters_tok_s: +(streams / lora32).toFixed(1),
    adapters_over_base: +(base32 / lora32).toFixed(3),
    prefill_tok_s: +(S.prompt / prefillS).toFixed(1), prefill_tokens: S.prompt,
    cold_adapter_load_ms: +(coldS * 1000).toFixed(1), adapter_host_build_s: +hostAdapterS.toFixed(2),
    synthetic_cache: `${CACHE} (${cacheUse.hits} files reused, ${cacheUse.written} generated in ${cacheUse.generateS.toFixed(1)} s)`,
    fusions_median_step: fusions, fusion_rounds: rounds,
    decode_32_greedy_step_ms: { logits_read_back_and_sampled_on_host: ms(median(sampleTimes.host)), sampled_on_device: ms(median(sampleTimes.device)) },
    transformers_peft: peft,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  be.close();
}
