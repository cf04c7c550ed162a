import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { referenceBackend as ref } from "../../inference/kernels/reference";
import { toBf16 } from "../../inference/kernels/bf16";
import { f32ToF16Bits, toF16 } from "../../inference/kernels/f16";
import { groupsPerRow, type HostWeight, type WeightFormat } from "../../inference/kernels/tensor";
import { WebGpuBackend, type GpuF32 } from "../../inference/webgpu/backend";
import { openTestGpu, reportMissingGpu } from "./gpu-test-backend";
import { rng, randArray, expectClose } from "../helpers/random";

// Every WebGPU op against the TypeScript reference backend on random shapes with odd sizes, for
// every weight format. Shapes stay small: on lavapipe (a CPU) the suite must stay quick.

/** a random weight of the format (q8/q4: random quants and f16 group scales) */
function randWeight(r: () => number, format: WeightFormat, rows: number, cols: number): HostWeight {
  const G = groupsPerRow(cols);
  const scales = () => {
    const s = new Uint16Array(rows * G);
    for (let i = 0; i < s.length; i++) s[i] = f32ToF16Bits(0.01 + r() * 0.05);
    return s;
  };
  switch (format) {
    case "f32": return { format, rows, cols, data: randArray(r, rows * cols) };
    case "f16": return { format, rows, cols, data: toF16(randArray(r, rows * cols)) };
    case "bf16": return { format, rows, cols, data: toBf16(randArray(r, rows * cols)) };
    case "q8": {
      const qs = new Int8Array(rows * G * 32);
      for (let j = 0; j < rows; j++) for (let p = 0; p < cols; p++) qs[j * G * 32 + p] = Math.floor(r() * 255) - 127;
      return { format, rows, cols, qs, scales: scales() };
    }
    case "q4": {
      const qs = new Uint8Array(rows * G * 16);
      for (let i = 0; i < qs.length; i++) qs[i] = Math.floor(r() * 256);
      // padding elements of a partial last group are 0 (8 with the offset): keep both nibbles there
      for (let j = 0; j < rows; j++) {
        for (let p = cols; p < G * 32; p++) {
          const e = p & 31, bi = (j * G + (p >> 5)) * 16 + (e & 15);
          qs[bi] = e < 16 ? (qs[bi] & 0xf0) | 8 : (qs[bi] & 0x0f) | 0x80;
        }
      }
      return { format, rows, cols, qs, scales: scales() };
    }
  }
}

const FORMATS: WeightFormat[] = ["f32", "f16", "bf16", "q8", "q4"];

const gpu = await openTestGpu();
if (!gpu.be) reportMissingGpu(gpu.reason);

describe.runIf(gpu.be)("webgpu ops vs reference", () => {
  const be = gpu.be!;
  const up = (a: Float32Array) => be.uploadF32(a);
  const out = (n: number) => be.allocF32(n);
  const read = (t: GpuF32, n: number) => be.readF32(t, n);

  beforeAll(async () => {
    await be.warmup();
  });
  afterAll(() => be.close());

  it("reports the adapter and every weight format", () => {
    expect(be.device).toBe("webgpu");
    expect(be.name).toMatch(/^webgpu \(.+\)$/);
    expect([...be.weightFormats].sort()).toEqual([...FORMATS].sort());
  });

  for (const format of FORMATS) {
    it(`matmul ${format}: GEMV (m <= 8) and tiled GEMM on odd shapes`, async () => {
      const r = rng(11 + format.length);
      const shapes: [number, number, number][] = [[1, 1, 1], [1, 33, 5], [3, 67, 31], [8, 64, 70], [9, 40, 65], [17, 95, 129], [70, 33, 66]];
      for (const [m, k, n] of shapes) {
        const x = randArray(r, m * k);
        const w = randWeight(r, format, n, k);
        const want = new Float32Array(m * n);
        ref.matmul(want, x, w, m, k, n);
        const gw = be.uploadWeight(w);
        const o = out(m * n);
        be.matmul(o, up(x), gw, m, k, n);
        expectClose(await read(o, m * n), want);
        be.release(gw);
      }
    });

    it(`embed ${format}`, async () => {
      const r = rng(5);
      const vocab = 37, dim = 45, tokens = 11;
      const table = randWeight(r, format, vocab, dim);
      const ids = Int32Array.from({ length: tokens }, () => Math.floor(r() * vocab));
      const want = new Float32Array(tokens * dim);
      ref.embed(want, table, ids, tokens, dim);
      const o = out(tokens * dim);
      be.embed(o, be.uploadWeight(table), be.uploadI32(ids), tokens, dim);
      expect(await read(o, tokens * dim)).toEqual(want);
    });
  }

  it("matmulFused (residual add into the output, SiLU·mul into the input) equals the separate ops: GEMV, GEMM, f16 and q4, both reductions", async () => {
    const r = rng(77);
    const plain = new WebGpuBackend(be.ctx, { subgroups: false });
    // f16 (the default) and q4 (the up binding after two weight bindings); the workgroup reduction on f32 GEMV
    const runs: [WebGpuBackend, WeightFormat, [number, number, number][]][] = [
      [be, "f16", [[1, 67, 31], [5, 40, 65], [70, 33, 66]]], [be, "q4", [[1, 67, 31], [5, 40, 65], [70, 33, 66]]], [plain, "f32", [[1, 67, 31], [5, 40, 65]]],
    ];
    for (const [b, format, shapes] of runs) {
      {
        for (const [m, k, n] of shapes) {
          for (const [accumulate, silu] of [[true, false], [false, true], [true, true]]) {
            const x = randArray(r, m * k), u = randArray(r, m * k), y0 = randArray(r, m * n);
            const w = randWeight(r, format, n, k);
            // the plain loops: a = silu(x) * up (or x); want = y0 + a · Wᵀ (or a · Wᵀ)
            const a = new Float32Array(m * k);
            if (silu) ref.siluMul(a, x, u, m * k);
            else a.set(x);
            const want = new Float32Array(m * n);
            ref.matmul(want, a, w, m, k, n);
            if (accumulate) ref.addInPlace(want, y0, m * n);
            const gw = b.uploadWeight(w);
            const o = b.allocF32(m * n);
            if (accumulate) {
              const src = b.uploadF32(y0);
              b.addInPlace(o, src, m * n); // o = y0 (o is zeroed)
            }
            b.matmulFused(o, b.uploadF32(x), gw, m, k, n, { accumulate, up: silu ? b.uploadF32(u) : null });
            expectClose(await b.readF32(o, m * n), want);
            b.release(gw);
          }
        }
      }
    }
  }, 400_000);

  it("GEMV with the workgroup-memory reduction (adapters without fixed-size subgroups)", async () => {
    const plain = new WebGpuBackend(be.ctx, { subgroups: false });
    expect(plain.subgroupSize).toBe(0);
    const r = rng(31);
    // two formats: on lavapipe the barrier-heavy variant is slow to compile
    for (const format of ["f16", "q4"] as WeightFormat[]) {
      for (const [m, k, n] of [[1, 67, 9], [3, 300, 17], [8, 33, 5]]) {
        const x = randArray(r, m * k);
        const w = randWeight(r, format, n, k);
        const want = new Float32Array(m * n);
        ref.matmul(want, x, w, m, k, n);
        const o = plain.allocF32(m * n);
        plain.matmul(o, plain.uploadF32(x), plain.uploadWeight(w), m, k, n);
        expectClose(await plain.readF32(o, m * n), want);
      }
    }
  });

  it("matmul and embed over a weight split into row parts (binding limit)", async () => {
    const small = new WebGpuBackend(be.ctx, { weightPartBytes: 1024 });
    const r = rng(3);
    for (const format of ["f32", "f16", "q4"] as WeightFormat[]) {
      const m = 5, k = 70, n = 61;
      const w = randWeight(r, format, n, k);
      const gw = small.uploadWeight(w);
      expect(gw.parts.length).toBeGreaterThan(2);
      for (const mm of [m, 20]) {
        const x = randArray(r, mm * k);
        const want = new Float32Array(mm * n);
        ref.matmul(want, x, w, mm, k, n);
        const o = small.allocF32(mm * n);
        small.matmul(o, small.uploadF32(x), gw, mm, k, n);
        expectClose(await small.readF32(o, mm * n), want);
      }
      const ids = Int32Array.from([0, n - 1, 30, 7, 59]);
      const want = new Float32Array(ids.length * k);
      ref.embed(want, w, ids, ids.length, k);
      const o = small.allocF32(ids.length * k);
      small.embed(o, gw, small.uploadI32(ids), ids.length, k);
      expect(await small.readF32(o, ids.length * k)).toEqual(want);
    }
  });

  it("rmsNorm, separate and in place", async () => {
    const r = rng(7);
    for (const [rows, dim] of [[1, 1], [3, 257], [5, 64], [2, 1000]]) {
      const x = randArray(r, rows * dim, 3);
      const w = randArray(r, dim);
      const want = new Float32Array(rows * dim);
      ref.rmsNorm(want, x, w, rows, dim, 1e-5);
      const o = out(rows * dim);
      be.rmsNorm(o, up(x), up(w), rows, dim, 1e-5);
      expectClose(await read(o, rows * dim), want, 1e-5);
      const xi = out(rows * dim);
      be.addInPlace(xi, up(x), rows * dim);
      be.rmsNorm(xi, xi, up(w), rows, dim, 1e-5);
      expectClose(await read(xi, rows * dim), want, 1e-5);
    }
  });

  it("rope at small and large positions", async () => {
    const r = rng(9);
    const tokens = 7, numHeads = 3, headDim = 34;
    const theta = 10000;
    const inv = Float32Array.from({ length: headDim / 2 }, (_, i) => Math.fround(1 / Math.pow(theta, (2 * i) / headDim)));
    const positions = Int32Array.from([0, 1, 5, 130, 4095, 8191, 32767]);
    const x = randArray(r, tokens * numHeads * headDim);
    const want = x.slice();
    ref.rope(want, positions, inv, tokens, numHeads, headDim);
    const gx = out(x.length);
    be.addInPlace(gx, up(x), x.length);
    be.rope(gx, be.uploadI32(positions), up(inv), tokens, numHeads, headDim);
    expectClose(await read(gx, x.length), want, 2e-5);
  });

  it("siluMul with every aliasing, addInPlace", async () => {
    const r = rng(13);
    const n = 1031;
    const g = randArray(r, n, 6);
    const u = randArray(r, n);
    const want = new Float32Array(n);
    ref.siluMul(want, g, u, n);
    const o = out(n);
    be.siluMul(o, up(g), up(u), n);
    expectClose(await read(o, n), want, 1e-5);
    const gg = out(n);
    be.addInPlace(gg, up(g), n);
    be.siluMul(gg, gg, up(u), n);
    expectClose(await read(gg, n), want, 1e-5);
    const uu = out(n);
    be.addInPlace(uu, up(u), n);
    be.siluMul(uu, up(g), uu, n);
    expectClose(await read(uu, n), want, 1e-5);
    // y += x, then y += y
    const y = out(n);
    be.addInPlace(y, up(g), n);
    be.addInPlace(y, up(u), n);
    be.addInPlace(y, y, n);
    const sum = new Float32Array(n);
    for (let i = 0; i < n; i++) sum[i] = 2 * Math.fround(g[i] + u[i]);
    expect(await read(y, n)).toEqual(sum);
  });

  it("gatherRows and kvWrite", async () => {
    const r = rng(17);
    const T = 9, dim = 23;
    const x = randArray(r, T * dim);
    const rows = Int32Array.from([8, 0, 3, 3]);
    const want = new Float32Array(rows.length * dim);
    ref.gatherRows(want, x, rows, rows.length, dim);
    const o = out(rows.length * dim);
    be.gatherRows(o, up(x), be.uploadI32(rows), rows.length, dim);
    expect(await read(o, want.length)).toEqual(want);

    const numSlots = 20, kvDim = 12, tokens = 5;
    const k = randArray(r, tokens * kvDim), v = randArray(r, tokens * kvDim);
    const slots = Int32Array.from([19, 0, 7, 8, 3]);
    const kc = new Float32Array(numSlots * kvDim), vc = new Float32Array(numSlots * kvDim);
    ref.kvWrite(kc, vc, k, v, slots, tokens, kvDim);
    const gkc = out(numSlots * kvDim), gvc = out(numSlots * kvDim);
    be.kvWrite(gkc, gvc, up(k), up(v), be.uploadI32(slots), tokens, kvDim);
    expect(await read(gkc, kc.length)).toEqual(kc);
    expect(await read(gvc, vc.length)).toEqual(vc);
  });

  it("paged attention: prefill + decode, GQA, sliding window, long contexts", async () => {
    const r = rng(19);
    const cases = [
      // numHeads, numKvHeads, headDim, blockSize, window, sequence lengths (queries = the last `q` positions of each)
      { H: 4, KV: 2, hd: 16, bs: 4, window: 0, seqs: [[5, 5], [3, 1]] },
      { H: 6, KV: 2, hd: 33, bs: 16, window: 0, seqs: [[300, 2], [1, 1], [129, 129]] },
      { H: 4, KV: 1, hd: 8, bs: 3, window: 7, seqs: [[20, 20], [150, 1]] },
      { H: 2, KV: 2, hd: 64, bs: 16, window: 130, seqs: [[400, 3]] },
    ];
    for (const c of cases) {
      const maxBlocks = Math.max(...c.seqs.map(([len]) => Math.ceil(len / c.bs)));
      const S = c.seqs.length;
      const numBlocks = S * maxBlocks + 3;
      const kvDim = c.KV * c.hd;
      const kc = randArray(r, numBlocks * c.bs * kvDim), vc = randArray(r, numBlocks * c.bs * kvDim);
      // scattered block ids: a permutation of the pool
      const perm = Array.from({ length: numBlocks }, (_, i) => i).sort(() => r() - 0.5);
      const tables = new Int32Array(S * maxBlocks).fill(-1);
      const seqIndex: number[] = [], positions: number[] = [];
      c.seqs.forEach(([len, q], s) => {
        for (let b = 0; b < Math.ceil(len / c.bs); b++) tables[s * maxBlocks + b] = perm[s * maxBlocks + b];
        for (let p = len - q; p < len; p++) { seqIndex.push(s); positions.push(p); }
      });
      const T = positions.length;
      const q = randArray(r, T * c.H * c.hd);
      const scale = 1 / Math.sqrt(c.hd);
      const want = new Float32Array(T * c.H * c.hd);
      const si = Int32Array.from(seqIndex), pos = Int32Array.from(positions);
      ref.attention(want, q, kc, vc, tables, si, pos, T, c.H, c.KV, c.hd, c.bs, maxBlocks, c.window, scale);
      const o = out(want.length);
      be.attention(o, up(q), up(kc), up(vc), be.uploadI32(tables), be.uploadI32(si), be.uploadI32(pos),
        T, c.H, c.KV, c.hd, c.bs, maxBlocks, c.window, scale);
      expectClose(await read(o, want.length), want, 2e-5);
    }
  });

  it("SGMV LoRA over segments: mixed adapters, base segments, ranks, separate buffers", async () => {
    const r = rng(23);
    const k = 45, n = 37;
    const segStarts = Int32Array.from([0, 3, 4, 9, 10, 16]);
    const ranks = Int32Array.from([8, 0, 4, 16, 1]);
    const scales = Float32Array.from([2, 0, 0.5, 1.25, -1]);
    const T = 16;
    const x = randArray(r, T * k);
    const y0 = randArray(r, T * n);
    const aH = Array.from(ranks, (rk) => (rk ? randArray(r, rk * k) : null));
    const bH = Array.from(ranks, (rk) => (rk ? randArray(r, n * rk) : null));
    const want = y0.slice();
    ref.lora(want, x, k, n, segStarts, aH, bH, ranks, scales);
    // segment 3's B is large enough to get its own buffer: two (A, B) buffer pairs
    const big = new Float32Array(1_100_000);
    big.set(bH[3]!);
    const aG = aH.map((a) => (a ? up(a) : null));
    const bG = bH.map((b, s) => (b ? (s === 3 ? up(big) : up(b)) : null));
    expect(bG[3]!.buffer).not.toBe(bG[0]!.buffer);
    const y = out(T * n);
    be.addInPlace(y, up(y0), T * n);
    be.lora(y, up(x), k, n, segStarts, aG, bG, ranks, scales);
    expectClose(await read(y, T * n), want, 1e-5);
  });

  it("steps that recycle their tables and reuse cached bind groups compute each step's own result", async () => {
    const r = rng(29);
    const T = 6, dim = 10;
    const x = randArray(r, T * dim);
    const gx = up(x);
    const o = out(3 * dim);
    for (let step = 0; step < 4; step++) {
      const rows = Int32Array.from({ length: 3 }, () => Math.floor(r() * T));
      const table = be.uploadI32(rows);
      be.gatherRows(o, gx, table, 3, dim);
      const want = new Float32Array(3 * dim);
      ref.gatherRows(want, x, rows, 3, dim);
      expect(await read(o, 3 * dim)).toEqual(want);
      be.release(table); // back to the pool: the next step writes its rows into the same buffer
    }
    // two LoRA calls in one submit: each reads its own segment table from the ring
    const k = 9, n = 7, T2 = 4;
    const xs = randArray(r, T2 * k);
    const A = [randArray(r, 2 * k), randArray(r, 3 * k)], B = [randArray(r, n * 2), randArray(r, n * 3)];
    const want = new Float32Array(T2 * n);
    ref.lora(want, xs, k, n, Int32Array.from([0, 1, 4]), [A[0], A[1]], [B[0], B[1]], Int32Array.from([2, 3]), Float32Array.from([1, 2]));
    ref.lora(want, xs, k, n, Int32Array.from([0, 3, 4]), [A[1], null], [B[1], null], Int32Array.from([3, 0]), Float32Array.from([0.5, 0]));
    const y = out(T2 * n);
    const gA = A.map(up), gB = B.map(up), gxs = up(xs);
    be.lora(y, gxs, k, n, Int32Array.from([0, 1, 4]), gA, gB, Int32Array.from([2, 3]), Float32Array.from([1, 2]));
    be.lora(y, gxs, k, n, Int32Array.from([0, 3, 4]), [gA[1], null], [gB[1], null], Int32Array.from([3, 0]), Float32Array.from([0.5, 0]));
    expectClose(await read(y, T2 * n), want, 1e-5);
  });

  it("errors name the op and the field", () => {
    const x = out(4);
    expect(() => be.matmul(out(4), x, be.uploadWeight({ format: "f32", rows: 2, cols: 3, data: new Float32Array(6) }), 2, 2, 2)).toThrow(/matmul: weight is \(2, 3\)/);
    expect(() => be.addInPlace(x, out(2), 3)).toThrow(/addInPlace: x has 2 elements, needs 3/);
    const gone = out(4);
    be.release(gone);
    expect(() => be.addInPlace(x, gone, 4)).toThrow(/used after release/);
  });
});
