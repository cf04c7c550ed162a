import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { Worker } from "node:worker_threads";
import { referenceBackend as ref } from "../../inference/kernels/reference";
import { ADDON_PATH } from "../../inference/kernels/native";
import { nativeAvailable, nativeBackend as nat, nativeInfo, setNativeIsa, toBf16, fromBf16 } from "../../inference/kernels/index";
import type { HostWeight } from "../../inference/kernels/tensor";
import { rng, randArray, expectClose } from "../helpers/random";

/** weight handles over raw arrays, unchecked (so the backends' own checks are what the tests see) */
const W = (data: Float32Array, rows: number, cols: number) => ({ format: "f32", rows, cols, data }) as HostWeight;
const Wb = (data: Uint16Array, rows: number, cols: number) => ({ format: "bf16", rows, cols, data }) as HostWeight;

// Every native op against the TypeScript reference, on random shapes with odd sizes, for each
// instruction-set build this CPU can run (AVX-512, AVX2, generic SSE2).

const available = nativeAvailable();
if (!available) {
  // Make the failure explicit rather than silently skipping: the addon is part of the build.
  it("native addon is built", () => {
    expect.fail(`native addon not loadable at ${ADDON_PATH}; run npm install`);
  });
}

const ISAS = ["avx512", "avx2", "generic"] as const;

describe.runIf(available)("native kernels vs reference", () => {
  let best = "";
  beforeAll(() => {
    best = nativeInfo().isa;
  });
  afterAll(() => {
    setNativeIsa(best as (typeof ISAS)[number]);
  });

  it("picks the best ISA and reports threads", () => {
    const info = nativeInfo();
    expect(info.isa).toBe(info.bestIsa);
    expect(info.threads).toBeGreaterThanOrEqual(1);
  });

  for (const isa of ISAS) {
    describe(isa, () => {
      let ok = false;
      beforeAll(() => {
        ok = setNativeIsa(isa);
      });

      it("matmul on odd and hot shapes", (ctx) => {
        if (!ok) ctx.skip();
        const r = rng(1);
        const shapes: [number, number, number][] = [
          [1, 1, 1], [1, 7, 1], [1, 17, 5], [2, 15, 3], [3, 33, 9], [5, 16, 13], [4, 64, 8],
          [1, 512, 131], [7, 100, 77], [9, 513, 70], [13, 31, 200], [1, 1536, 40], [33, 48, 130],
          [128, 64, 96], [6, 8, 1], [0, 5, 5], [3, 0, 4],
        ];
        for (const [m, k, n] of shapes) {
          const x = randArray(r, m * k);
          const w = randArray(r, n * k);
          const want = new Float32Array(m * n);
          const got = new Float32Array(m * n).fill(NaN);
          ref.matmul(want, x, W(w, n, k), m, k, n);
          nat.matmul(got, x, W(w, n, k), m, k, n);
          expectClose(got, want);
        }
      });

      it("matmulBf16 on odd and hot shapes", (ctx) => {
        if (!ok) ctx.skip();
        const r = rng(11);
        for (const [m, k, n] of [[1, 1, 1], [1, 17, 5], [3, 33, 9], [5, 16, 13], [1, 512, 131], [9, 513, 70], [33, 48, 130], [4, 64, 8]] as const) {
          const x = randArray(r, m * k);
          const w = toBf16(randArray(r, n * k));
          const want = new Float32Array(m * n);
          const got = new Float32Array(m * n).fill(NaN);
          ref.matmul(want, x, Wb(w, n, k), m, k, n);
          nat.matmul(got, x, Wb(w, n, k), m, k, n);
          expectClose(got, want);
          // and it is the fp32 matmul of the widened weights
          const viaF32 = new Float32Array(m * n);
          nat.matmul(viaF32, x, W(fromBf16(w), n, k), m, k, n);
          expectClose(got, viaF32, 1e-5);
        }
      });

      it("matmul on subarray views (byte offsets)", (ctx) => {
        if (!ok) ctx.skip();
        const r = rng(2);
        const [m, k, n] = [3, 19, 11];
        const xb = randArray(r, m * k + 5);
        const wb = randArray(r, n * k + 3);
        const x = xb.subarray(5);
        const w = wb.subarray(3);
        const want = new Float32Array(m * n);
        const outb = new Float32Array(m * n + 7);
        ref.matmul(want, x, W(w, n, k), m, k, n);
        nat.matmul(outb.subarray(7), x, W(w, n, k), m, k, n);
        expectClose(outb.subarray(7), want);
        expect(Array.from(outb.subarray(0, 7))).toEqual([0, 0, 0, 0, 0, 0, 0]);
      });

      it("rmsNorm, in place and not", (ctx) => {
        if (!ok) ctx.skip();
        const r = rng(3);
        for (const [rows, dim] of [[1, 1], [1, 512], [3, 17], [40, 512], [200, 33]]) {
          const x = randArray(r, rows * dim, 3);
          const wgt = randArray(r, dim);
          const want = new Float32Array(rows * dim);
          ref.rmsNorm(want, x, wgt, rows, dim, 1e-5);
          const got = new Float32Array(rows * dim);
          nat.rmsNorm(got, x, wgt, rows, dim, 1e-5);
          expectClose(got, want);
          const inPlace = x.slice();
          nat.rmsNorm(inPlace, inPlace, wgt, rows, dim, 1e-5);
          expectClose(inPlace, want);
        }
      });

      it("rope at several positions and head shapes", (ctx) => {
        if (!ok) ctx.skip();
        const r = rng(4);
        for (const [tokens, heads, headDim] of [[1, 1, 2], [3, 8, 64], [5, 2, 6], [40, 3, 34], [2, 1, 128]]) {
          const half = headDim / 2;
          const invFreq = new Float32Array(half);
          for (let i = 0; i < half; i++) invFreq[i] = Math.pow(10000, (-2 * i) / headDim);
          const positions = new Int32Array(tokens);
          for (let t = 0; t < tokens; t++) positions[t] = Math.floor(r() * 5000);
          positions[0] = 0;
          const x = randArray(r, tokens * heads * headDim);
          const want = x.slice();
          const got = x.slice();
          ref.rope(want, positions, invFreq, tokens, heads, headDim);
          nat.rope(got, positions, invFreq, tokens, heads, headDim);
          expectClose(got, want);
        }
      });

      it("siluMul (incl. large |gate|, aliasing out = gate) and addInPlace", (ctx) => {
        if (!ok) ctx.skip();
        const r = rng(5);
        for (const n of [1, 15, 16, 17, 1000, 100_003]) {
          const gate = randArray(r, n, 12);
          if (n > 2) {
            gate[0] = 100;
            gate[1] = -100;
          }
          const up = randArray(r, n, 2);
          const want = new Float32Array(n);
          ref.siluMul(want, gate, up, n);
          const got = new Float32Array(n);
          nat.siluMul(got, gate, up, n);
          expectClose(got, want, 1e-5);
          const alias = gate.slice();
          nat.siluMul(alias, alias, up, n);
          expectClose(alias, want, 1e-5);

          const y = randArray(r, n);
          const x = randArray(r, n);
          const yRef = y.slice();
          ref.addInPlace(yRef, x, n);
          nat.addInPlace(y, x, n);
          expectClose(y, yRef, 0);
        }
      });

      it("embed and kvWrite copy exact rows", (ctx) => {
        if (!ok) ctx.skip();
        const r = rng(6);
        const [vocab, dim, tokens] = [50, 13, 9];
        const table = randArray(r, vocab * dim);
        const ids = Int32Array.from({ length: tokens }, () => Math.floor(r() * vocab));
        ids[0] = vocab - 1;
        const want = new Float32Array(tokens * dim);
        const got = new Float32Array(tokens * dim);
        ref.embed(want, W(table, table.length / dim, dim), ids, tokens, dim);
        nat.embed(got, W(table, table.length / dim, dim), ids, tokens, dim);
        expect(got).toEqual(want);

        const [slotsN, kvDim] = [40, 10];
        const k = randArray(r, tokens * kvDim);
        const v = randArray(r, tokens * kvDim);
        const slots = Int32Array.from([0, 39, 5, 6, 7, 20, 21, 22, 31]);
        const kc1 = randArray(r, slotsN * kvDim);
        const vc1 = randArray(r, slotsN * kvDim);
        const kc2 = kc1.slice();
        const vc2 = vc1.slice();
        ref.kvWrite(kc1, vc1, k, v, slots, tokens, kvDim);
        nat.kvWrite(kc2, vc2, k, v, slots, tokens, kvDim);
        expect(kc2).toEqual(kc1);
        expect(vc2).toEqual(vc1);
      });

      it("attention: GQA 1/2/4/8, windows, tokens across block boundaries", (ctx) => {
        if (!ok) ctx.skip();
        const r = rng(7);
        const cases = [
          { kvHeads: 2, group: 1, headDim: 16, blockSize: 4, window: 0 },
          { kvHeads: 2, group: 2, headDim: 17, blockSize: 3, window: 0 },
          { kvHeads: 2, group: 4, headDim: 64, blockSize: 16, window: 0 },
          { kvHeads: 1, group: 8, headDim: 32, blockSize: 8, window: 5 },
          { kvHeads: 3, group: 2, headDim: 8, blockSize: 2, window: 1 },
          { kvHeads: 2, group: 4, headDim: 64, blockSize: 16, window: 40 },
        ];
        for (const c of cases) {
          const numHeads = c.kvHeads * c.group;
          const kvWidth = c.kvHeads * c.headDim;
          const seqLens = [1, 7, 37, c.blockSize, c.blockSize + 1, 70];
          const maxBlocks = Math.ceil(80 / c.blockSize);
          const numBlocks = seqLens.length * maxBlocks + 3;
          // Shuffled block ids, so each sequence's blocks are scattered through the cache.
          const perm = Array.from({ length: numBlocks }, (_, i) => i).sort(() => r() - 0.5);
          const blockTables = new Int32Array(seqLens.length * maxBlocks).fill(-1);
          let next = 0;
          seqLens.forEach((len, s) => {
            for (let b = 0; b < Math.ceil(len / c.blockSize); b++) blockTables[s * maxBlocks + b] = perm[next++];
          });
          const kCache = randArray(r, numBlocks * c.blockSize * kvWidth);
          const vCache = randArray(r, numBlocks * c.blockSize * kvWidth);
          // Tokens: a prefill chunk of the last 5 positions of sequence 5, and the last position of each other sequence.
          const seqIdx: number[] = [];
          const pos: number[] = [];
          seqLens.forEach((len, s) => {
            if (s === 5) for (let p = len - 5; p < len; p++) { seqIdx.push(s); pos.push(p); }
            else { seqIdx.push(s); pos.push(len - 1); }
          });
          const tokens = pos.length;
          const q = randArray(r, tokens * numHeads * c.headDim, 2);
          const scale = 1 / Math.sqrt(c.headDim);
          const want = new Float32Array(q.length);
          const got = new Float32Array(q.length).fill(NaN);
          const args = [kCache, vCache, blockTables, Int32Array.from(seqIdx), Int32Array.from(pos), tokens, numHeads, c.kvHeads, c.headDim, c.blockSize, maxBlocks, c.window, scale] as const;
          ref.attention(want, q, ...args);
          nat.attention(got, q, ...args);
          expectClose(got, want);
        }
      });

      it("attention with one cached position returns v", (ctx) => {
        if (!ok) ctx.skip();
        const r = rng(8);
        const [heads, kvHeads, hd, bs] = [4, 2, 8, 4];
        const kCache = randArray(r, 8 * kvHeads * hd);
        const vCache = randArray(r, 8 * kvHeads * hd);
        const out = new Float32Array(heads * hd);
        nat.attention(out, randArray(r, heads * hd), kCache, vCache, Int32Array.from([1]), Int32Array.from([0]), Int32Array.from([0]), 1, heads, kvHeads, hd, bs, 1, 0, 0.3);
        for (let h = 0; h < heads; h++) {
          const g = Math.floor(h / 2);
          const v = vCache.subarray(4 * kvHeads * hd + g * hd, 4 * kvHeads * hd + (g + 1) * hd);
          expectClose(out.subarray(h * hd, (h + 1) * hd), v, 1e-6);
        }
      });

      it("lora: null adapters, mixed ranks, empty and tiny segments", (ctx) => {
        if (!ok) ctx.skip();
        const r = rng(9);
        for (const [k, n] of [[512, 128], [33, 17], [16, 1], [1, 40]]) {
          const ranks = [8, 0, 16, 8, 1, 64, 7, 8, 8, 8, 3, 2, 4, 32];
          const lens = [1, 3, 0, 5, 1, 70, 2, 1, 0, 1, 40, 3, 2, 33];
          const nulls = new Set([1, 4, 9]);
          const segStarts = new Int32Array(lens.length + 1);
          for (let s = 0; s < lens.length; s++) segStarts[s + 1] = segStarts[s] + lens[s];
          const tokens = segStarts[lens.length];
          const a = ranks.map((rk, s) => (nulls.has(s) ? null : randArray(r, rk * k)));
          const b = ranks.map((rk, s) => (nulls.has(s) ? null : randArray(r, n * rk)));
          const scales = Float32Array.from(ranks.map((_, s) => 0.5 + s));
          const x = randArray(r, tokens * k);
          const y0 = randArray(r, tokens * n);
          const want = y0.slice();
          const got = y0.slice();
          ref.lora(want, x, k, n, segStarts, a, b, Int32Array.from(ranks), scales);
          nat.lora(got, x, k, n, segStarts, a, b, Int32Array.from(ranks), scales);
          expectClose(got, want);
        }
      });

      it("lora: 64 one-token segments (decode) and no segments", (ctx) => {
        if (!ok) ctx.skip();
        const r = rng(10);
        const [k, n, segs, rank] = [64, 48, 64, 8];
        const segStarts = Int32Array.from({ length: segs + 1 }, (_, i) => i);
        const a = Array.from({ length: segs }, () => randArray(r, rank * k));
        const b = Array.from({ length: segs }, () => randArray(r, n * rank));
        const ranks = new Int32Array(segs).fill(rank);
        const scales = new Float32Array(segs).fill(2);
        const x = randArray(r, segs * k);
        const want = new Float32Array(segs * n);
        const got = new Float32Array(segs * n);
        ref.lora(want, x, k, n, segStarts, a, b, ranks, scales);
        nat.lora(got, x, k, n, segStarts, a, b, ranks, scales);
        expectClose(got, want);
        const y = new Float32Array(4);
        nat.lora(y, x, k, n, new Int32Array(0), [], [], new Int32Array(0), new Float32Array(0));
        nat.lora(y, x, k, n, new Int32Array([0]), [], [], new Int32Array(0), new Float32Array(0));
        expect(Array.from(y)).toEqual([0, 0, 0, 0]);
      });
    });
  }

  describe("bad arguments throw (and the process survives)", () => {
    const f = (n: number) => new Float32Array(n);
    const i = (n: number) => new Int32Array(n);

    it("matmul", () => {
      expect(() => nat.matmul(f(4), [1, 2] as unknown as Float32Array, W(f(4), 2, 2), 2, 2, 2)).toThrow(TypeError);
      expect(() => nat.matmul(f(4), f(4), W(f(4), 2, 2), 2, 2, 2)).not.toThrow();
      expect(() => nat.matmul(f(3), f(4), W(f(4), 2, 2), 2, 2, 2)).toThrow(/out has 3 elements, needs at least 4/);
      expect(() => nat.matmul(f(4), f(4), W(f(3), 2, 2), 2, 2, 2)).toThrow(RangeError);
      expect(() => nat.matmul(f(4), f(4), W(f(4), 2, 2), -1, 2, 2)).toThrow(RangeError);
      expect(() => nat.matmul(f(4), f(4), W(f(4), 2, 2), 1.5, 2, 2)).toThrow(/m must be a non-negative integer/);
      expect(() => nat.matmul(f(4), f(4), W(f(4), 2, 2), "2" as unknown as number, 2, 2)).toThrow(TypeError);
      expect(() => nat.matmul(f(4), f(4), W(new Float64Array(4) as unknown as Float32Array, 2, 2), 2, 2, 2)).toThrow(/w must be a Float32Array/);
      expect(() => nat.matmul(f(4), f(4), Wb(f(4) as unknown as Uint16Array, 2, 2), 2, 2, 2)).toThrow(/w: bf16 data must be a Uint16Array/);
      expect(() => nat.matmul(f(4), f(4), Wb(new Uint16Array(3), 2, 2), 2, 2, 2)).toThrow(/w: bf16 data has 3 elements, needs 4/);
    });

    it("element-wise ops", () => {
      expect(() => nat.rmsNorm(f(4), f(4), f(1), 2, 2, 1e-5)).toThrow(/weight/);
      expect(() => nat.rmsNorm(f(4), f(4), f(2), 2, 2, NaN)).toThrow(/eps/);
      expect(() => nat.rope(f(8), i(1), f(1), 1, 2, 3)).toThrow(/headDim must be even/);
      expect(() => nat.rope(f(8), f(1) as unknown as Int32Array, f(2), 1, 2, 4)).toThrow(/positions must be an Int32Array/);
      expect(() => nat.siluMul(f(4), f(4), f(3), 4)).toThrow(/up/);
      expect(() => nat.addInPlace(f(4), f(3), 4)).toThrow(/x has 3/);
      expect(() => nat.embed(f(4), W(f(8), f(8).length / 2, 2), Int32Array.from([0, 4]), 2, 2)).toThrow(/token id out of range/);
      expect(() => nat.embed(f(4), W(f(8), f(8).length / 2, 2), Int32Array.from([-1, 0]), 2, 2)).toThrow(RangeError);
      expect(() => nat.kvWrite(f(8), f(8), f(2), f(2), Int32Array.from([4]), 1, 2)).toThrow(/slot out of range/);
      expect(() => nat.kvWrite(f(8), f(8), f(2), f(1), Int32Array.from([1]), 1, 2)).toThrow(/v has 1/);
    });

    it("attention", () => {
      const [heads, kvh, hd, bs] = [2, 1, 4, 2];
      const q = f(heads * hd);
      const out = f(heads * hd);
      const kc = f(4 * kvh * hd);
      const call = (table: number[], pos: number, seq = 0, maxBlocks = 2, nh = heads) =>
        nat.attention(out, q, kc, kc, Int32Array.from(table), Int32Array.from([seq]), Int32Array.from([pos]), 1, nh, kvh, hd, bs, maxBlocks, 0, 0.5);
      expect(() => call([0, 1], 3)).not.toThrow();
      expect(() => call([0, 2], 3)).toThrow(/block id out of range/);
      expect(() => call([0, -1], 3)).toThrow(/block id out of range/);
      expect(() => call([0, 1], 4)).toThrow(/position beyond/);
      expect(() => call([0, 1], 1, 1)).toThrow(/seqIndex out of range/);
      expect(() =>
        nat.attention(f(12), f(12), kc, kc, Int32Array.from([0, 1]), i(1), i(1), 1, 3, 2, hd, bs, 2, 0, 0.5),
      ).toThrow(/numHeads \(3\) must be a multiple of numKvHeads \(2\)/);
      expect(() => call([0], 1, 0, 2)).toThrow(/blockTables/);
    });

    it("lora", () => {
      const x = f(4);
      const y = f(4);
      const seg = Int32Array.from([0, 2]);
      expect(() => nat.lora(y, x, 2, 2, seg, [], [], i(1), f(1))).toThrow(/1 segments but 0 a/);
      expect(() => nat.lora(y, x, 2, 2, seg, [f(3)], [f(4)], Int32Array.from([2]), f(1))).toThrow(/a\[0\] has 3/);
      expect(() => nat.lora(y, x, 2, 2, seg, [f(4)], [f(4)], Int32Array.from([2]), f(1))).not.toThrow();
      expect(() => nat.lora(y, x, 2, 2, seg, [[1] as unknown as Float32Array], [f(4)], Int32Array.from([1]), f(1))).toThrow(TypeError);
      expect(() => nat.lora(y, x, 2, 2, Int32Array.from([0, 3]), [null], [null], i(1), f(1))).toThrow(/y has 4/);
      expect(() => nat.lora(y, x, 2, 2, Int32Array.from([2, 1]), [null], [null], i(1), f(1))).toThrow(/non-decreasing/);
    });
  });

  it("thread pool: thousands of back-to-back parallel calls of different task counts stay exact", () => {
    const r = rng(12);
    const shapes: [number, number, number][] = [[4, 64, 256], [1, 512, 96], [9, 33, 700], [2, 16, 8]];
    const cases = shapes.map(([m, k, n]) => {
      const x = randArray(r, m * k);
      const w = randArray(r, n * k);
      const want = new Float32Array(m * n);
      nat.matmul(want, x, W(w, n, k), m, k, n); // the native result is deterministic: later calls must match it bit for bit
      const ref1 = new Float32Array(m * n);
      ref.matmul(ref1, x, W(w, n, k), m, k, n);
      expectClose(want, ref1);
      return { m, k, n, x, w, want, out: new Float32Array(m * n) };
    });
    const g = randArray(r, 70_000);
    const u = randArray(r, 70_000);
    const sWant = new Float32Array(70_000);
    nat.siluMul(sWant, g, u, 70_000);
    const sOut = new Float32Array(70_000);
    for (let it = 0; it < 3000; it++) {
      const c = cases[it % cases.length];
      c.out.fill(NaN);
      nat.matmul(c.out, c.x, W(c.w, c.n, c.k), c.m, c.k, c.n);
      if (!c.out.every((v, i) => v === c.want[i])) throw new Error(`iteration ${it}: matmul result changed`);
      if (it % 7 === 0) {
        nat.siluMul(sOut, g, u, 70_000);
        if (!sOut.every((v, i) => v === sWant[i])) throw new Error(`iteration ${it}: siluMul result changed`);
      }
    }
  });

  it("works in worker_threads running at the same time as the main thread (per-instance pools)", async () => {
    const src = `
      const { parentPort } = require("node:worker_threads");
      const a = require(${JSON.stringify(ADDON_PATH)});
      const k = 64, n = 256, m = 4;
      const x = new Float32Array(m * k).fill(1), w = new Float32Array(n * k).fill(0.5), out = new Float32Array(m * n);
      let ok = true;
      for (let i = 0; i < 500 && ok; i++) {
        out.fill(0);
        a.matmul(out, x, w, m, k, n);
        ok = out.every((v) => v === 32);
      }
      parentPort.postMessage({ ok, threads: a.info().threads });
    `;
    const workers = [new Worker(src, { eval: true }), new Worker(src, { eval: true })];
    const done = workers.map(
      (worker) =>
        new Promise<{ ok: boolean; threads: number }>((resolve, reject) => {
          worker.once("message", resolve);
          worker.once("error", reject);
        }),
    );
    // The main thread's own pool works meanwhile.
    const [m, k, n] = [8, 128, 300];
    const x = new Float32Array(m * k).fill(2);
    const w = new Float32Array(n * k).fill(0.25);
    const out = new Float32Array(m * n);
    for (let i = 0; i < 300; i++) {
      out.fill(0);
      nat.matmul(out, x, W(w, n, k), m, k, n);
      expect(out.every((v) => v === 64)).toBe(true);
    }
    const results = await Promise.all(done);
    await Promise.all(workers.map((wk) => wk.terminate()));
    for (const msg of results) expect(msg.ok).toBe(true);
    // The main thread's instance still works after the workers' instances were torn down.
    const out2 = new Float32Array(2);
    nat.matmul(out2, Float32Array.from([1, 2]), W(Float32Array.from([3, 4, 5, 6]), 2, 2), 1, 2, 2);
    expect(Array.from(out2)).toEqual([11, 17]);
  });
});
