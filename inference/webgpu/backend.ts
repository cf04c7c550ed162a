/**
 * The WebGPU backend: `Backend` over tensors in device buffers, every op a WGSL kernel (see
 * ./shaders/, each documented with the plain loop it equals). Ops are recorded into one command
 * encoder and submitted together when a result is read back (`readF32`) or `flush()` is called:
 * one command buffer per forward step. Per-dispatch parameters and LoRA segment tables go into a
 * ring buffer written with a single `queue.writeBuffer` at submit, bound at a dynamic offset, so
 * a dispatch's bind group depends only on its tensors and is cached: creating one costs far more
 * than recording the dispatch (~60-120 µs vs ~15 µs on lavapipe), and a decode step repeats the
 * same tensors. Per-step i32 tables come from a pool of recycled buffers for the same reason.
 */
import type { Backend, DeviceInfo, KvPoolPlan, RowSample, RowSampleParams } from "../kernels/backend";
import { checkWeight, groupsPerRow, QGROUP, WEIGHT_FORMATS, type HostWeight, type WeightFormat } from "../kernels/tensor";
import { Arena, bufferFrom, bytesOf, MAP_READ, roundUp, USAGE, type GpuF32, type GpuI32, type GpuTensor, type GpuWeight, type WeightPart } from "./buffers";
import { openWebGpu, type GpuContext, type OpenOptions } from "./device";
import { DEFAULT_GPU_MEMORY_FRACTION, deviceMemory, parseGpuMemoryFraction, planKvPool, type DeviceMemory } from "./memory";
import { ATTENTION_WGSL, ATTN_MAX_HEAD_DIM } from "./shaders/attention";
import { addWgsl, embedWgsl, EW_WG, GATHER_ROWS_WGSL, KV_WRITE_WGSL, ROPE_WGSL, rmsNormWgsl, siluMulWgsl } from "./shaders/elementwise";
import { GEMM_TILE, gemmWgsl, GEMV_MAX_M, gemvWgsl, NO_FUSION, type MatmulFusion } from "./shaders/matmul";
import { LORA_EXPAND_WGSL, LORA_SHRINK_WGSL } from "./shaders/lora";
import { SAMPLE_HEAD, SAMPLE_MAX_CANDIDATES, SAMPLE_ROW_FLOATS, SAMPLE_WGSL } from "./shaders/sample";

export type { GpuF32, GpuI32, GpuWeight } from "./buffers";

const RING_BYTES = 1 << 21; // per-submit parameters + segment tables
const SLOT = 256; // uniform/storage offset alignment every adapter meets
const ARENA_BYTES = 32 << 20;
const ARENA_MAX_TENSOR = 4 << 20; // larger uploads get their own buffer
const MAX_GROUPS_X = 65535;
const TENSOR_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
const STAGE_COMPUTE = 4; // GPUShaderStage.COMPUTE
const MAX_CACHED_BIND_GROUPS = 8192;

type Binding = GpuTensor | { buffer: GPUBuffer; offset: number; size: number };

export class WebGpuBackend implements Backend<GpuF32, GpuI32, GpuWeight> {
  readonly name: string;
  readonly device = "webgpu" as const;
  readonly weightFormats: readonly WeightFormat[] = WEIGHT_FORMATS;
  /** live device buffers (weights, tensors, arenas, pools, scratch) and their bytes */
  private liveBuffers = 0;
  private liveBytes = 0;

  private readonly dev: GPUDevice;
  private readonly maxBinding: number;
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;
  private readonly i32Pool = new Map<number, GPUBuffer[]>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly ring: GPUBuffer;
  private readonly ringHost = new ArrayBuffer(RING_BYTES);
  private readonly ringU32 = new Uint32Array(this.ringHost);
  private readonly ringF32 = new Float32Array(this.ringHost);
  private readonly ringI32 = new Int32Array(this.ringHost);
  private ringUsed = 0;
  private readonly arenas: Arena[] = [];
  private readonly afterSubmit: (() => void)[] = [];
  private loraScratch: GpuF32 | null = null;
  private sampleOut: GpuF32 | null = null;
  private error: string | null = null;
  private closed = false;

  private readonly weightPartBytes: number;
  /** subgroup size the GEMV reduces with (0 = workgroup-memory reduction) */
  readonly subgroupSize: number;

  /** the share of device memory the KV pool may fill up to, with what is already held (`--gpu-memory-fraction`) */
  readonly memoryFraction: number;
  /** the device's memory and where the figure came from (WebGPU does not report it) */
  readonly deviceMemory: DeviceMemory;

  /**
   * `weightPartBytes` lowers the size of a weight's row parts (tests of split weights); `subgroups: false` forces the workgroup-memory GEMV;
   * `deviceMemory` overrides what the platform reports (tests)
   */
  constructor(readonly ctx: GpuContext, opts: { weightPartBytes?: number; subgroups?: boolean; memoryFraction?: number; deviceMemory?: DeviceMemory } = {}) {
    this.memoryFraction = parseGpuMemoryFraction(opts.memoryFraction ?? DEFAULT_GPU_MEMORY_FRACTION);
    this.deviceMemory = opts.deviceMemory ?? deviceMemory(ctx);
    this.dev = ctx.device;
    this.subgroupSize = opts.subgroups === false || !ctx.device.features.has("subgroups") ? 0 : ctx.fixedSubgroupSize;
    this.name = `webgpu (${ctx.name})`;
    this.maxBinding = ctx.limits.maxStorageBufferBindingSize;
    this.weightPartBytes = Math.min(this.maxBinding, opts.weightPartBytes ?? Infinity);
    this.ring = this.track(this.dev.createBuffer({ label: "ring", size: RING_BYTES, usage: USAGE.UNIFORM | USAGE.STORAGE | USAGE.COPY_DST }));
    this.dev.addEventListener("uncapturederror", (ev) => { this.error ??= (ev as GPUUncapturedErrorEvent).error.message; });
    void this.dev.lost.then((info) => { if (!this.closed) this.error ??= `device lost: ${info.message}`; });
  }

  // --- memory ---------------------------------------------------------------------------

  allocF32(n: number): GpuF32 {
    return this.dedicated("f32", n, null);
  }

  uploadF32(src: Float32Array): GpuF32 {
    const bytes = src.length * 4;
    if (bytes > 0 && bytes <= ARENA_MAX_TENSOR) {
      const t = this.inArena("f32", src.length);
      this.dev.queue.writeBuffer(t.buffer, t.offset, src.buffer, src.byteOffset, bytes);
      return t;
    }
    return this.dedicated("f32", src.length, src);
  }

  uploadI32(src: Int32Array): GpuI32 {
    const bytes = src.length * 4;
    if (bytes > ARENA_MAX_TENSOR) return this.dedicated("i32", src.length, src);
    const size = Math.max(256, 2 ** Math.ceil(Math.log2(Math.max(bytes, 4))));
    let buffer = this.i32Pool.get(size)?.pop();
    if (!buffer) {
      buffer = this.track(this.dev.createBuffer({ label: "i32 table", size, usage: TENSOR_USAGE }));
    }
    // ordered after every submitted use of the recycled buffer (it returns to the pool after a submit)
    if (bytes > 0) this.dev.queue.writeBuffer(buffer, 0, src.buffer, src.byteOffset, bytes);
    return { kind: "i32", buffer, offset: 0, length: src.length, byteSize: size, arena: null, pooled: true, released: false };
  }

  uploadWeight(w: HostWeight): GpuWeight {
    checkWeight("uploadWeight", w);
    const G = groupsPerRow(w.cols);
    const rowBytes = w.format === "f32" ? w.cols * 4 : w.format === "f16" || w.format === "bf16" ? w.cols * 2 : w.format === "q8" ? G * QGROUP : G * (QGROUP / 2);
    const perPart = Math.max(1, Math.floor(this.weightPartBytes / rowBytes));
    if (w.cols * 4 > this.maxBinding) throw new RangeError(`uploadWeight: a row of ${w.cols} columns exceeds the device's binding limit`);
    const parts: WeightPart[] = [];
    let bytes = 0;
    for (let row0 = 0; row0 < w.rows; row0 += perPart) {
      const rows = Math.min(perPart, w.rows - row0);
      const src = w.format === "q8" || w.format === "q4" ? w.qs : w.data;
      const data = this.track(bufferFrom(this.dev, bytesOf(src, row0 * rowBytes, rows * rowBytes), TENSOR_USAGE, `weight ${w.format}`));
      const scales = w.format === "q8" || w.format === "q4" ? this.track(bufferFrom(this.dev, bytesOf(w.scales, row0 * G * 2, rows * G * 2), TENSOR_USAGE)) : null;
      bytes += data.size + (scales?.size ?? 0);
      parts.push({ row0, rows, data, scales });
    }
    return { kind: "weight", format: w.format, rows: w.rows, cols: w.cols, parts, bytes, released: false };
  }

  async readF32(src: GpuF32, n: number): Promise<Float32Array> {
    this.live("readF32", src);
    if (n > src.length) throw new RangeError(`readF32: ${n} floats asked of a tensor of ${src.length}`);
    if (n === 0) { this.flush(); return new Float32Array(0); }
    const staging = this.dev.createBuffer({ label: "readback", size: n * 4, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    this.endPass();
    this.enc().copyBufferToBuffer(src.buffer, src.offset, staging, 0, n * 4);
    this.flush();
    try {
      await staging.mapAsync(MAP_READ);
      this.throwIfFailed();
      return new Float32Array(staging.getMappedRange().slice(0));
    } catch (err) {
      this.throwIfFailed();
      throw err;
    } finally {
      staging.destroy();
    }
  }

  /** the first n i32 of a table (tests, debugging) */
  async readI32(src: GpuI32, n: number): Promise<Int32Array> {
    const f = await this.readF32({ ...src, kind: "f32" } as GpuF32, n);
    return new Int32Array(f.buffer);
  }

  release(t: GpuF32 | GpuI32 | GpuWeight): void {
    if (t.released) return;
    t.released = true;
    if (t.kind === "weight") {
      for (const p of t.parts) this.later(() => { this.destroyBuffer(p.data); if (p.scales) this.destroyBuffer(p.scales); });
    } else if (t.arena) {
      const arena = t.arena;
      this.later(() => {
        arena.release(t.offset, t.length * 4);
        // an emptied arena beyond the first goes back (adapters come and go)
        if (arena.used === 0 && this.arenas.length > 1) {
          this.arenas.splice(this.arenas.indexOf(arena), 1);
          this.destroyBuffer(arena.buffer);
        }
      });
    } else if (t.pooled) {
      const pool = this.i32Pool.get(t.buffer.size) ?? [];
      this.i32Pool.set(t.buffer.size, pool);
      this.later(() => pool.push(t.buffer));
    } else {
      this.later(() => this.destroyBuffer(t.buffer));
    }
  }

  /** device bytes held by weights, tensors, arenas and pools (buffers not yet freed included) */
  get bytesInUse(): number {
    return this.liveBytes;
  }

  /**
   * Live device memory: buffers and their bytes, and the bytes of live tensors sub-allocated
   * from arenas (uploaded norm weights, LoRA A/B). Frees run after the next submit: call
   * `flush()` first for settled figures.
   */
  memory(): { buffers: number; bytes: number; arenas: number; arenaUsedBytes: number } {
    let arenaUsedBytes = 0;
    for (const a of this.arenas) arenaUsedBytes += a.used;
    return { buffers: this.liveBuffers, bytes: this.liveBytes, arenas: this.arenas.length, arenaUsedBytes };
  }

  deviceInfo(): DeviceInfo {
    return { adapter: this.ctx.name, memoryInUseBytes: this.bytesInUse, memoryTotalBytes: this.deviceMemory.totalBytes };
  }

  planKvPool(p: { wantedBlocks: number; bytesPerBlock: number; bufferBytesPerBlock: number; capBytes: number | null }): KvPoolPlan {
    return planKvPool({ ...p, limits: this.ctx.limits, memory: this.deviceMemory, fraction: this.memoryFraction, inUseBytes: this.bytesInUse });
  }

  /** Submits what was recorded (the model calls it once per step; readF32 does it itself). */
  flush(): void {
    if (!this.encoder) {
      this.runAfterSubmit();
      return;
    }
    this.endPass();
    if (this.ringUsed > 0) this.dev.queue.writeBuffer(this.ring, 0, this.ringHost, 0, this.ringUsed);
    this.dev.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.ringUsed = 0;
    this.runAfterSubmit();
  }

  /** Waits for the device to finish everything submitted (benchmarks). */
  async sync(): Promise<void> {
    this.flush();
    await this.dev.queue.onSubmittedWorkDone();
    this.throwIfFailed();
  }

  /** Compiles every kernel now (and reports WGSL errors with the compiler's message). */
  async warmup(formats: readonly WeightFormat[] = this.weightFormats): Promise<void> {
    const jobs = Object.values(KERNELS);
    for (const f of formats) {
      jobs.push(gemmKernel(f), embedKernel(f));
      jobs.push(gemvKernel(f, this.subgroupSize, 1), gemvKernel(f, this.subgroupSize, GEMV_MAX_M));
    }
    await Promise.all(jobs.map(async (k) => {
      if (this.pipelines.has(k.key)) return;
      const shader = this.dev.createShaderModule({ label: k.key, code: k.code() });
      const info = await shader.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === "error");
      if (errors.length) throw new Error(`WGSL ${k.key}: ${errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ")}`);
      const layout = this.bindGroupLayout(k);
      const pipeline = await this.dev.createComputePipelineAsync({
        label: k.key, layout: this.dev.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module: shader, entryPoint: "main" },
      });
      this.pipelines.set(k.key, { pipeline, layout });
    }));
  }

  /** Releases the device and Dawn's instance; the backend is unusable afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.encoder = null;
    this.pass = null;
    this.ctx.close();
  }

  // --- ops ------------------------------------------------------------------------------

  matmul(out: GpuF32, x: GpuF32, w: GpuWeight, m: number, k: number, n: number): void {
    this.matmulWith("matmul", out, x, w, m, k, n, NO_FUSION, null);
  }

  matmulFused(out: GpuF32, x: GpuF32, w: GpuWeight, m: number, k: number, n: number, opts: { accumulate: boolean; up: GpuF32 | null }): void {
    this.matmulWith("matmulFused", out, x, w, m, k, n, { accumulate: opts.accumulate, silu: opts.up !== null }, opts.up);
  }

  private matmulWith(op: string, out: GpuF32, x: GpuF32, w: GpuWeight, m: number, k: number, n: number, fusion: MatmulFusion, up: GpuF32 | null): void {
    this.live(op, out, x, w, ...(up ? [up] : []));
    need(op, "x", x, m * k);
    if (up) need(op, "up", up, m * k);
    need(op, "out", out, m * n);
    if (w.cols !== k || w.rows < n) throw new RangeError(`${op}: weight is (${w.rows}, ${w.cols}), needs (>=${n}, ${k})`);
    this.distinct(op, out, x, ...(up ? [up] : []));
    if (m === 0 || n === 0) return;
    const gemv = m <= GEMV_MAX_M;
    for (const part of w.parts) {
      if (part.row0 >= n) break;
      const rows = Math.min(part.rows, n - part.row0);
      const wb: Binding[] = [...weightBindings(part), ...(up ? [up] : [])];
      if (gemv) {
        this.dispatch(gemvKernel(w.format, this.subgroupSize, m === 1 ? 1 : GEMV_MAX_M, fusion), [out, x, ...wb], [m, k, rows, n, part.row0], [], rows);
      } else {
        this.dispatch(gemmKernel(w.format, fusion), [out, x, ...wb], [m, k, rows, n, part.row0], [],
          [Math.ceil(rows / GEMM_TILE), Math.ceil(m / GEMM_TILE)]);
      }
    }
  }

  rmsNorm(out: GpuF32, x: GpuF32, weight: GpuF32, rows: number, dim: number, eps: number): void {
    this.live("rmsNorm", out, x, weight);
    need("rmsNorm", "x", x, rows * dim);
    need("rmsNorm", "out", out, rows * dim);
    need("rmsNorm", "weight", weight, dim);
    if (rows === 0) return;
    if (same(out, x)) {
      this.distinct("rmsNorm", out, weight);
      this.dispatch(KERNELS.rmsInPlace, [out, weight], [rows, dim], [eps], rows);
    } else {
      this.distinct("rmsNorm", out, x, weight);
      this.dispatch(KERNELS.rms, [out, weight, x], [rows, dim], [eps], rows);
    }
  }

  rope(x: GpuF32, positions: GpuI32, invFreq: GpuF32, tokens: number, numHeads: number, headDim: number): void {
    this.live("rope", x, positions, invFreq);
    need("rope", "x", x, tokens * numHeads * headDim);
    need("rope", "positions", positions, tokens);
    need("rope", "invFreq", invFreq, headDim >> 1);
    if (headDim % 2 !== 0) throw new RangeError(`rope: headDim ${headDim} must be even`);
    this.distinct("rope", x, invFreq);
    const n = tokens * numHeads * (headDim >> 1);
    if (n === 0) return;
    this.dispatch(KERNELS.rope, [x, positions, invFreq], [tokens, numHeads, headDim], [], Math.ceil(n / EW_WG));
  }

  siluMul(out: GpuF32, gate: GpuF32, up: GpuF32, n: number): void {
    this.live("siluMul", out, gate, up);
    need("siluMul", "gate", gate, n);
    need("siluMul", "up", up, n);
    need("siluMul", "out", out, n);
    if (n === 0) return;
    const groups = Math.ceil(n / EW_WG);
    if (same(out, gate) && same(out, up)) throw new RangeError("siluMul: gate and up must be different tensors");
    if (same(out, gate)) {
      this.distinct("siluMul", out, up);
      this.dispatch(KERNELS.siluGate, [out, up], [n], [], groups);
    } else if (same(out, up)) {
      this.distinct("siluMul", out, gate);
      this.dispatch(KERNELS.siluUp, [out, gate], [n], [], groups);
    } else {
      this.distinct("siluMul", out, gate, up);
      this.dispatch(KERNELS.silu, [out, gate, up], [n], [], groups);
    }
  }

  addInPlace(y: GpuF32, x: GpuF32, n: number): void {
    this.live("addInPlace", y, x);
    need("addInPlace", "y", y, n);
    need("addInPlace", "x", x, n);
    if (n === 0) return;
    if (same(y, x)) {
      this.dispatch(KERNELS.addSelf, [y], [n], [], Math.ceil(n / EW_WG));
    } else {
      this.distinct("addInPlace", y, x);
      this.dispatch(KERNELS.add, [y, x], [n], [], Math.ceil(n / EW_WG));
    }
  }

  embed(out: GpuF32, table: GpuWeight, ids: GpuI32, tokens: number, dim: number): void {
    this.live("embed", out, table, ids);
    need("embed", "out", out, tokens * dim);
    need("embed", "ids", ids, tokens);
    if (table.cols !== dim) throw new RangeError(`embed: table has ${table.cols} columns, needs ${dim}`);
    if (tokens === 0) return;
    for (const part of table.parts) {
      this.dispatch(embedKernel(table.format), [out, ids, ...weightBindings(part)],
        [tokens, dim, part.row0, part.rows], [], Math.ceil((tokens * dim) / EW_WG));
    }
  }

  gatherRows(out: GpuF32, x: GpuF32, rows: GpuI32, count: number, dim: number): void {
    this.live("gatherRows", out, x, rows);
    need("gatherRows", "out", out, count * dim);
    need("gatherRows", "rows", rows, count);
    this.distinct("gatherRows", out, x);
    if (count * dim === 0) return;
    this.dispatch(KERNELS.gatherRows, [out, x, rows], [count, dim], [], Math.ceil((count * dim) / EW_WG));
  }

  kvWrite(kCache: GpuF32, vCache: GpuF32, k: GpuF32, v: GpuF32, slots: GpuI32, tokens: number, kvDim: number): void {
    this.live("kvWrite", kCache, vCache, k, v, slots);
    need("kvWrite", "k", k, tokens * kvDim);
    need("kvWrite", "v", v, tokens * kvDim);
    need("kvWrite", "slots", slots, tokens);
    this.distinct("kvWrite", kCache, vCache, k, v);
    if (tokens * kvDim === 0) return;
    this.dispatch(KERNELS.kvWrite, [kCache, vCache, k, v, slots], [tokens, kvDim], [], Math.ceil((tokens * kvDim) / EW_WG));
  }

  attention(
    out: GpuF32, q: GpuF32, kCache: GpuF32, vCache: GpuF32,
    blockTables: GpuI32, seqIndex: GpuI32, positions: GpuI32,
    tokens: number, numHeads: number, numKvHeads: number, headDim: number,
    blockSize: number, maxBlocksPerSeq: number, window: number, scale: number,
  ): void {
    this.live("attention", out, q, kCache, vCache, blockTables, seqIndex, positions);
    need("attention", "q", q, tokens * numHeads * headDim);
    need("attention", "out", out, tokens * numHeads * headDim);
    need("attention", "seqIndex", seqIndex, tokens);
    need("attention", "positions", positions, tokens);
    if (headDim > ATTN_MAX_HEAD_DIM) throw new RangeError(`attention: headDim ${headDim} exceeds ${ATTN_MAX_HEAD_DIM}`);
    if (numKvHeads <= 0 || numHeads % numKvHeads !== 0) throw new RangeError(`attention: numHeads ${numHeads} is not a multiple of numKvHeads ${numKvHeads}`);
    this.distinct("attention", out, q, kCache, vCache);
    if (tokens === 0) return;
    this.dispatch(KERNELS.attention, [out, q, kCache, vCache, blockTables, seqIndex, positions],
      [tokens, numHeads, numKvHeads, headDim, blockSize, maxBlocksPerSeq, Math.max(0, window)], [scale], tokens * numHeads);
  }

  lora(
    y: GpuF32, x: GpuF32, k: number, n: number,
    segStarts: Int32Array, a: (GpuF32 | null)[], b: (GpuF32 | null)[],
    ranks: Int32Array, scales: Float32Array,
  ): void {
    const S = segStarts.length - 1;
    if (S <= 0) return;
    const T = segStarts[S];
    this.live("lora", y, x);
    need("lora", "x", x, T * k);
    need("lora", "y", y, T * n);
    this.distinct("lora", y, x);
    // segments grouped by the (A buffer, B buffer) pair they live in: one shrink + expand each
    const groups = new Map<GPUBuffer, Map<GPUBuffer, number[]>>();
    let maxRank = 0;
    for (let s = 0; s < S; s++) {
      const as = a[s];
      const bs = b[s];
      if (as === null || bs === null || segStarts[s + 1] <= segStarts[s]) continue;
      this.live("lora", as, bs);
      const r = ranks[s];
      need("lora", `a[${s}]`, as, r * k);
      need("lora", `b[${s}]`, bs, n * r);
      maxRank = Math.max(maxRank, r);
      let byB = groups.get(as.buffer);
      if (!byB) groups.set(as.buffer, (byB = new Map()));
      const list = byB.get(bs.buffer);
      if (list) list.push(s);
      else byB.set(bs.buffer, [s]);
    }
    if (maxRank === 0) return;
    const h = this.scratchH(T * maxRank);
    for (const [aBuf, byB] of groups) {
      for (const [bBuf, segs] of byB) {
        const words = 1 + 6 * segs.length + T;
        // the table and both dispatches' parameters in one ring reservation (no flush in between)
        this.reserve(roundUp(words * 4, SLOT) + 2 * SLOT);
        const base = this.ringAlloc(words * 4) / 4; // the table's first word in the ring
        this.ringI32[base] = segs.length;
        this.ringI32.fill(-1, base + 1 + 6 * segs.length, base + words);
        segs.forEach((s, i) => {
          const row = base + 1 + 6 * i;
          this.ringI32[row] = segStarts[s];
          this.ringI32[row + 1] = segStarts[s + 1];
          this.ringI32[row + 2] = a[s]!.offset / 4;
          this.ringI32[row + 3] = b[s]!.offset / 4;
          this.ringI32[row + 4] = ranks[s];
          this.ringF32[row + 5] = scales[s];
          this.ringI32.fill(i, base + 1 + 6 * segs.length + segStarts[s], base + 1 + 6 * segs.length + segStarts[s + 1]);
        });
        const ring = { buffer: this.ring, offset: 0, size: RING_BYTES };
        const aWhole = { buffer: aBuf, offset: 0, size: Math.min(aBuf.size, this.maxBinding) };
        const bWhole = { buffer: bBuf, offset: 0, size: Math.min(bBuf.size, this.maxBinding) };
        this.dispatch(KERNELS.loraShrink, [h, x, aWhole, ring], [T, k, maxRank, base], [], T * maxRank);
        this.dispatch(KERNELS.loraExpand, [y, h, bWhole, ring], [T, n, maxRank, base], [], Math.ceil((T * n) / 256));
      }
    }
  }

  async sampleRows(logits: GpuF32, rows: number, vocab: number, params: readonly RowSampleParams[]): Promise<RowSample[]> {
    this.live("sampleRows", logits);
    need("sampleRows", "logits", logits, rows * vocab);
    if (params.length !== rows) throw new RangeError(`sampleRows: ${params.length} row parameters for ${rows} rows`);
    if (rows === 0) { this.flush(); return []; } // a step without sampled rows (a prefill chunk) still runs now
    // (rows, 4) words: invT f32, u f32 (-1 = no draw), candidates u32, pad
    const table = new ArrayBuffer(rows * 16);
    const f = new Float32Array(table);
    const u = new Uint32Array(table);
    params.forEach((p, r) => {
      if (!(p.candidates >= 0 && p.candidates <= SAMPLE_MAX_CANDIDATES)) throw new RangeError(`sampleRows: candidates must be in [0, ${SAMPLE_MAX_CANDIDATES}], got ${p.candidates}`);
      f[4 * r] = p.invT;
      f[4 * r + 1] = p.u ?? -1;
      u[4 * r + 2] = p.candidates;
    });
    const t = this.uploadI32(new Int32Array(table));
    if (!this.sampleOut || this.sampleOut.length < rows * SAMPLE_ROW_FLOATS) {
      if (this.sampleOut) this.release(this.sampleOut);
      this.sampleOut = this.allocF32(Math.max(rows, 2 * (this.sampleOut?.length ?? 0) / SAMPLE_ROW_FLOATS, 8) * SAMPLE_ROW_FLOATS);
    }
    this.dispatch(KERNELS.sample, [this.sampleOut, logits, t], [rows, vocab, 0], [], rows);
    this.release(t);
    const out = await this.readF32(this.sampleOut, rows * SAMPLE_ROW_FLOATS);
    const bits = new Int32Array(out.buffer, out.byteOffset, out.length);
    return params.map((p, r) => {
      const o = r * SAMPLE_ROW_FLOATS;
      const c = Math.min(p.candidates, vocab);
      return {
        argmax: bits[o]!, max: out[o + 1]!, logZ: out[o + 2]!, sumT: out[o + 3]!, drawn: bits[o + 4]!, drawnLogit: out[o + 5]!,
        ids: bits.slice(o + SAMPLE_HEAD, o + SAMPLE_HEAD + c),
        logits: out.slice(o + SAMPLE_HEAD + SAMPLE_MAX_CANDIDATES, o + SAMPLE_HEAD + SAMPLE_MAX_CANDIDATES + c),
      };
    });
  }

  // --- internals ------------------------------------------------------------------------

  private dedicated<K extends "f32" | "i32">(kind: K, n: number, src: Float32Array | Int32Array | null): GpuTensor<K> {
    const byteSize = Math.max(4, n * 4);
    if (byteSize > this.maxBinding) {
      throw new RangeError(`a ${kind} tensor of ${n} elements (${byteSize} bytes) exceeds the device's binding limit of ${this.maxBinding} bytes`);
    }
    const buffer = this.track(src
      ? bufferFrom(this.dev, bytesOf(src), TENSOR_USAGE, kind)
      : this.dev.createBuffer({ label: kind, size: byteSize, usage: TENSOR_USAGE }));
    return { kind, buffer, offset: 0, length: n, byteSize, arena: null, pooled: false, released: false };
  }

  private inArena<K extends "f32" | "i32">(kind: K, n: number): GpuTensor<K> {
    const align = Math.max(SLOT, this.dev.limits.minStorageBufferOffsetAlignment);
    for (const arena of this.arenas) {
      const off = arena.alloc(n * 4);
      if (off >= 0) return { kind, buffer: arena.buffer, offset: off, length: n, byteSize: n * 4, arena, pooled: false, released: false };
    }
    const size = Math.min(ARENA_BYTES, this.maxBinding);
    const arena = new Arena(this.track(this.dev.createBuffer({ label: "arena", size, usage: TENSOR_USAGE })), size, align);
    this.arenas.push(arena);
    const off = arena.alloc(n * 4);
    return { kind, buffer: arena.buffer, offset: off, length: n, byteSize: n * 4, arena, pooled: false, released: false };
  }

  private scratchH(n: number): GpuF32 {
    if (!this.loraScratch || this.loraScratch.length < n) {
      if (this.loraScratch) this.release(this.loraScratch);
      this.loraScratch = this.allocF32(Math.max(n, 2 * (this.loraScratch?.length ?? 0), 1024));
    }
    return this.loraScratch;
  }

  private enc(): GPUCommandEncoder {
    if (this.closed) throw new Error("webgpu backend is closed");
    this.encoder ??= this.dev.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private later(fn: () => void): void {
    if (this.encoder) this.afterSubmit.push(fn);
    else fn();
  }

  private runAfterSubmit(): void {
    for (const fn of this.afterSubmit.splice(0)) fn();
  }

  private reserve(bytes: number): void {
    if (bytes > RING_BYTES) throw new RangeError(`a step table of ${bytes} bytes exceeds the ${RING_BYTES}-byte ring`);
    if (this.ringUsed + bytes > RING_BYTES) this.flush();
  }

  private ringAlloc(bytes: number): number {
    const off = this.ringUsed;
    this.ringUsed += roundUp(bytes, SLOT);
    return off;
  }

  private bindGroupLayout(k: Kernel): GPUBindGroupLayout {
    const entries: GPUBindGroupLayoutEntry[] = [
      { binding: 0, visibility: STAGE_COMPUTE, buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: SLOT } },
    ];
    for (let i = 0; i < k.bindings; i++) {
      entries.push({ binding: i + 1, visibility: STAGE_COMPUTE, buffer: { type: i < k.writable ? "storage" : "read-only-storage" } });
    }
    return this.dev.createBindGroupLayout({ label: k.key, entries });
  }

  private pipeline(k: Kernel): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    let p = this.pipelines.get(k.key);
    if (!p) {
      const layout = this.bindGroupLayout(k);
      const pipeline = this.dev.createComputePipeline({
        label: k.key,
        layout: this.dev.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module: this.dev.createShaderModule({ label: k.key, code: k.code() }), entryPoint: "main" },
      });
      p = { pipeline, layout };
      this.pipelines.set(k.key, p);
    }
    return p;
  }

  private track(b: GPUBuffer): GPUBuffer {
    this.liveBuffers++;
    this.liveBytes += b.size;
    return b;
  }

  private bufferId(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, (id = this.nextBufferId++));
    return id;
  }

  /** destroys a buffer once nothing recorded uses it; cached bind groups may name it, so they go too */
  private destroyBuffer(b: GPUBuffer): void {
    this.liveBuffers--;
    this.liveBytes -= b.size;
    b.destroy();
    this.bindGroups.clear();
  }

  /**
   * Records one dispatch: parameters (gx, ...u32s, ...f32s) into the ring, bindings 1.. in order.
   * `groups` is a workgroup count laid out on a 2-D grid, or an explicit [x, y].
   */
  private dispatch(k: Kernel, bindings: Binding[], u32s: number[], f32s: number[], groups: number | [number, number]): void {
    if (bindings.length !== k.bindings) throw new Error(`${k.key}: ${bindings.length} bindings, the kernel has ${k.bindings}`);
    const { pipeline, layout } = this.pipeline(k);
    let gx: number, gy: number;
    if (typeof groups === "number") {
      gx = Math.min(groups, MAX_GROUPS_X);
      gy = Math.ceil(groups / gx);
    } else {
      [gx, gy] = groups;
    }
    if (gx <= 0 || gy <= 0) return;
    if (gy > MAX_GROUPS_X) throw new RangeError(`${k.key}: ${gx}x${gy} workgroups exceed the dispatch limit`);
    this.reserve(SLOT);
    const off = this.ringAlloc(SLOT);
    const w = off / 4;
    this.ringU32[w] = gx;
    u32s.forEach((v, i) => { this.ringU32[w + 1 + i] = v; });
    f32s.forEach((v, i) => { this.ringF32[w + 1 + u32s.length + i] = v; });
    const resources = bindings.map((b) => ("kind" in b ? { buffer: b.buffer, offset: b.offset, size: b.byteSize } : b));
    let key = k.key;
    for (const r of resources) key += `|${this.bufferId(r.buffer)}:${r.offset}:${r.size}`;
    let bindGroup = this.bindGroups.get(key);
    if (!bindGroup) {
      if (this.bindGroups.size >= MAX_CACHED_BIND_GROUPS) this.bindGroups.clear();
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.ring, offset: 0, size: SLOT } }];
      resources.forEach((r, i) => entries.push({ binding: i + 1, resource: r }));
      bindGroup = this.dev.createBindGroup({ layout, entries });
      this.bindGroups.set(key, bindGroup);
    }
    const encoder = this.enc();
    this.pass ??= encoder.beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup, [off]);
    this.pass.dispatchWorkgroups(gx, gy);
  }

  private live(op: string, ...ts: (GpuTensor | GpuWeight)[]): void {
    if (this.closed) throw new Error(`${op}: the webgpu backend is closed`);
    for (const t of ts) {
      if (!t || (t.kind !== "f32" && t.kind !== "i32" && t.kind !== "weight")) throw new TypeError(`${op}: not a webgpu tensor`);
      if (t.released) throw new Error(`${op}: tensor used after release`);
    }
  }

  /** WebGPU forbids a buffer written and read in one dispatch: distinct handles must not share a buffer */
  private distinct(op: string, written: GpuTensor, ...read: GpuTensor[]): void {
    for (const r of read) {
      if (r !== written && r.buffer === written.buffer) {
        throw new RangeError(`${op}: the output shares a device buffer with an input (an uploaded tensor is not writable by ops; allocate outputs with allocF32)`);
      }
    }
  }

  private throwIfFailed(): void {
    if (this.error) throw new Error(`webgpu: ${this.error}`);
  }
}

function weightBindings(part: WeightPart): Binding[] {
  const data = { buffer: part.data, offset: 0, size: part.data.size };
  return part.scales ? [data, { buffer: part.scales, offset: 0, size: part.scales.size }] : [data];
}

function same(a: GpuTensor, b: GpuTensor): boolean {
  return a === b || (a.buffer === b.buffer && a.offset === b.offset);
}

function need(op: string, name: string, t: GpuTensor, n: number): void {
  if (t.length < n) throw new RangeError(`${op}: ${name} has ${t.length} elements, needs ${n}`);
}

/** a WGSL entry and its bindings: 0 = params (uniform), then `bindings` storage buffers, the first `writable` read-write */
interface Kernel {
  key: string;
  code: () => string;
  bindings: number;
  writable: number;
}

const kernel = (key: string, code: () => string, bindings: number, writable = 1): Kernel => ({ key, code, bindings, writable });

const KERNELS = {
  rms: kernel("rms", () => rmsNormWgsl(false), 3),
  rmsInPlace: kernel("rms_inplace", () => rmsNormWgsl(true), 2),
  rope: kernel("rope", () => ROPE_WGSL, 3),
  silu: kernel("silu", () => siluMulWgsl("none"), 3),
  siluGate: kernel("silu_gate", () => siluMulWgsl("gate"), 2),
  siluUp: kernel("silu_up", () => siluMulWgsl("up"), 2),
  add: kernel("add", () => addWgsl(false), 2),
  addSelf: kernel("add_self", () => addWgsl(true), 1),
  gatherRows: kernel("gather_rows", () => GATHER_ROWS_WGSL, 3),
  kvWrite: kernel("kv_write", () => KV_WRITE_WGSL, 5, 2),
  attention: kernel("attention", () => ATTENTION_WGSL, 7),
  loraShrink: kernel("lora_shrink", () => LORA_SHRINK_WGSL, 4),
  loraExpand: kernel("lora_expand", () => LORA_EXPAND_WGSL, 4),
  sample: kernel("sample", () => SAMPLE_WGSL, 3),
} satisfies Record<string, Kernel>;

const quantized = (f: WeightFormat) => f === "q8" || f === "q4";
const formatKernels = new Map<string, Kernel>();
function perFormat(kind: "gemv" | "gemm" | "embed", f: WeightFormat, subgroupSize = 0, m = 0, fusion: MatmulFusion = NO_FUSION): Kernel {
  const key = `${kind}_${f}${subgroupSize ? `_sg${subgroupSize}` : ""}${m ? `_m${m}` : ""}${fusion.accumulate ? "_acc" : ""}${fusion.silu ? "_silu" : ""}`;
  let k = formatKernels.get(key);
  if (!k) {
    const code = kind === "gemv" ? () => gemvWgsl(f, subgroupSize, m, fusion) : kind === "gemm" ? () => gemmWgsl(f, fusion) : () => embedWgsl(f);
    formatKernels.set(key, (k = kernel(key, code, (quantized(f) ? 4 : 3) + (fusion.silu ? 1 : 0))));
  }
  return k;
}
const gemvKernel = (f: WeightFormat, subgroupSize: number, m: number, fusion: MatmulFusion = NO_FUSION) => perFormat("gemv", f, subgroupSize, m, fusion);
const gemmKernel = (f: WeightFormat, fusion: MatmulFusion = NO_FUSION) => perFormat("gemm", f, 0, 0, fusion);
const embedKernel = (f: WeightFormat) => perFormat("embed", f);

/** Opens a device (see ./device.ts) and a backend on it; `close()` releases both. */
export async function createWebGpuBackend(opts: OpenOptions & { memoryFraction?: number } = {}): Promise<WebGpuBackend> {
  const ctx = await openWebGpu(opts);
  try {
    const be = new WebGpuBackend(ctx, { memoryFraction: opts.memoryFraction });
    return be;
  } catch (err) {
    ctx.close();
    throw err;
  }
}
