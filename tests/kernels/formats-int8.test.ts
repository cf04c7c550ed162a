import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import path from "node:path";
import { groupsPerRow, QGROUP, type HostWeight } from "../../inference/kernels/tensor";
import { convertWeight } from "../../inference/kernels/quantize";
import { f32ToF16Bits } from "../../inference/kernels/f16";
import { matmulInt8Ref, quantizeActivationRow } from "../../inference/kernels/int8-act";
import { rng, randArray } from "../helpers/random";

// The int8-activation q8 / q4 matmul (inference/native/qdot.inc) against its plain loop
// (inference/kernels/int8-act.ts: x quantized per group of 32, exact int32 group sums, f32 sum of
// f32(dw·dx)·isum), for every instruction-set build this CPU runs: random shapes (k not a
// multiple of 32, m = 1 GEMV to m > 128 GEMM), exact integer results, the rounding rule, non-finite
// activations. The addon is loaded directly so these tests pin the raw exports' contract.

type F32 = Float32Array;
interface Int8Addon {
  matmulQ8(out: F32, x: F32, qs: Int8Array, scales: Uint16Array, m: number, k: number, n: number): void;
  matmulQ4(out: F32, x: F32, qs: Uint8Array, scales: Uint16Array, m: number, k: number, n: number): void;
  info(): { isa: string; bestIsa: string; threads: number; quantActivations: string };
  setIsa(name: string): boolean;
  setQuantActivations(mode: string): boolean;
}

const ADDON = path.resolve(import.meta.dirname, "../../build/Release/lora_kernels.node");
const addon: Int8Addon | null = existsSync(ADDON) ? (createRequire(import.meta.url)(ADDON) as Int8Addon) : null;
if (!addon) it("native addon is built", () => expect.fail(`native addon missing at ${ADDON}; run npm install`));

const initial = addon?.info().quantActivations; // before any test switches it

const ISAS = ["avx512vnni", "avx512", "avx2", "generic"] as const;
// [m, k, n]: partial groups, k below one block, blocks plus tail groups (AVX-512 q4 blocks are
// 4 groups, q8 2; AVX2 2 and 1), GEMV (m = 1), small m, GEMM tiles with row remainders, > 128 rows,
// n across thread tasks, tile and 32-row chunk boundaries.
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 7, 3], [1, 31, 5], [2, 32, 9], [3, 33, 17], [1, 64, 8], [1, 96, 7], [1, 128, 13],
  [1, 160, 67], [5, 63, 70], [2, 257, 130], [3, 512, 96], [1, 1000, 300], [4, 96, 65], [9, 129, 200],
  [17, 300, 129], [130, 72, 70], [1, 4096, 64], [8, 515, 257], [6, 224, 33],
];

function run(a: Int8Addon, out: F32, x: F32, w: HostWeight, m: number, k: number, n: number): void {
  if (w.format === "q8") a.matmulQ8(out, x, w.qs, w.scales, m, k, n);
  else if (w.format === "q4") a.matmulQ4(out, x, w.qs, w.scales, m, k, n);
  else throw new Error("q8 or q4 only");
}

/** random (n, k) weight, magnitudes varying by row, a few zeros */
function randWeight(r: () => number, format: "q8" | "q4", n: number, k: number): HostWeight {
  const f = randArray(r, n * k);
  for (let j = 0; j < n; j++) {
    const mag = 2 ** Math.floor(r() * 12 - 8);
    for (let p = 0; p < k; p++) f[j * k + p] *= r() < 0.05 ? 0 : mag;
  }
  return convertWeight({ format: "f32", rows: n, cols: k, data: f }, format);
}

/** random x, magnitudes varying by group of 32 (some groups all zero, some tiny) */
function randX(r: () => number, m: number, k: number): F32 {
  const x = randArray(r, m * k);
  for (let i = 0; i < m; i++) {
    for (let g = 0; g * QGROUP < k; g++) {
      const u = r();
      const mag = u < 0.05 ? 0 : u < 0.1 ? 1e-30 : 2 ** Math.floor(r() * 16 - 8);
      for (let p = g * QGROUP; p < Math.min(k, (g + 1) * QGROUP); p++) x[i * k + p] *= mag;
    }
  }
  return x;
}

describe.runIf(addon)("int8-activation q8/q4 matmul vs its plain loop", () => {
  const a = addon!;
  let best = "";
  beforeAll(() => {
    best = a.info().isa;
    expect(a.setQuantActivations("int8")).toBe(true);
  });
  afterAll(() => {
    a.setIsa(best);
    a.setQuantActivations(initial ?? "int8");
  });

  it("int8 is the default; f32 is selectable; other names are refused", () => {
    expect(initial).toBe(process.env.LORA_KERNELS_QACT === "f32" ? "f32" : "int8");
    expect(a.setQuantActivations("f32")).toBe(true);
    expect(a.info().quantActivations).toBe("f32");
    expect(a.setQuantActivations("bf16")).toBe(false);
    expect(a.info().quantActivations).toBe("f32");
    expect(a.setQuantActivations("int8")).toBe(true);
    expect(a.info().quantActivations).toBe("int8");
  });

  it("the TypeScript quantizer rounds half away from zero, amax maps to ±127", () => {
    const x = new Float32Array([127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 0.49999997, -0.49999997, 126.5, -126.49999, 3.4999998]);
    const { q, d } = quantizeActivationRow(x, x.length);
    expect(d[0]).toBe(1);
    expect(Array.from(q.subarray(0, x.length))).toEqual([127, 3, -3, 1, -1, 2, -2, 0, 0, 127, -126, 3]);
    expect(Array.from(q.subarray(x.length))).toEqual(new Array(32 - x.length).fill(0));
  });

  for (const isa of ISAS) {
    for (const format of ["q8", "q4"] as const) {
      it(`${isa}: ${format} on odd, GEMV and GEMM shapes`, (ctx) => {
        if (!a.setIsa(isa)) ctx.skip();
        const r = rng(11 + format.length * 17 + isa.length * 5);
        for (const [m, k, n] of SHAPES) {
          const w = randWeight(r, format, n, k);
          // NaN after the m*k values: a kernel reading past row m-1's partial last group would show it
          const x = new Float32Array(m * k + 64).fill(NaN);
          x.set(randX(r, m, k));
          const out = new Float32Array(m * n + 1).fill(12345);
          run(a, out, x, w, m, k, n);
          const { out: want, mag } = matmulInt8Ref(x, w, m, k, n);
          for (let i = 0; i < m * n; i++) {
            const err = Math.abs(out[i] - want[i]);
            // only the f32 sum over groups differs: a few ulps of Σ|terms| per term added
            if (!(err <= 1e-6 * Math.sqrt(groupsPerRow(k) * 16) * mag[i] + 1e-37)) {
              throw new Error(`${isa} ${format} m=${m} k=${k} n=${n}: out[${i}] = ${out[i]}, want ${want[i]} (err ${err}, mag ${mag[i]})`);
            }
          }
          expect(out[m * n]).toBe(12345);
        }
      });

      it(`${isa}: ${format} integer results are exact (scales 1, x quantized losslessly)`, (ctx) => {
        if (!a.setIsa(isa)) ctx.skip();
        const r = rng(99 + format.length);
        for (const [m, k, n] of [[1, 200, 37], [3, 200, 37], [5, 4096, 11], [1, 4100, 9], [7, 33, 5]] as const) {
          const G = groupsPerRow(k);
          // x: integers in [-127, 127], every group holding ±127, so d = 1, id = 1 and q = x
          const x = new Float32Array(m * k);
          for (let i = 0; i < m; i++) {
            for (let p = 0; p < k; p++) x[i * k + p] = Math.floor(r() * 255) - 127;
            for (let g = 0; g < G; g++) x[i * k + Math.min(k - 1, g * QGROUP + Math.floor(r() * 32))] = r() < 0.5 ? 127 : -127;
          }
          const scales = new Uint16Array(n * G).fill(f32ToF16Bits(1));
          const w: HostWeight =
            format === "q8"
              ? { format, rows: n, cols: k, qs: Int8Array.from({ length: n * G * 32 }, (_, i) => ((i % (G * 32)) < k ? Math.floor(r() * 255) - 127 : 0)), scales }
              : { format, rows: n, cols: k, qs: Uint8Array.from({ length: n * G * 16 }, () => Math.floor(r() * 256)), scales };
          if (w.format === "q4") {
            // padding nibbles of the partial last group must be 8 (q - 8 = 0); the kernels read them
            for (let j = 0; j < n; j++) {
              for (let e = k - (G - 1) * QGROUP; e < QGROUP; e++) {
                const b = (j * G + G - 1) * 16 + (e & 15);
                w.qs[b] = e < 16 ? (w.qs[b] & 0xf0) | 8 : (w.qs[b] & 0x0f) | 0x80;
              }
            }
          }
          const out = new Float32Array(m * n);
          run(a, out, x, w, m, k, n);
          const { out: want } = matmulInt8Ref(x, w, m, k, n);
          for (let i = 0; i < m * n; i++) {
            if (out[i] !== want[i]) throw new Error(`${isa} ${format} m=${m} k=${k} n=${n}: out[${i}] = ${out[i]}, want exactly ${want[i]}`);
          }
        }
      });

      it(`${isa}: ${format} a row's result does not depend on the other rows (bit for bit, GEMV = GEMM)`, (ctx) => {
        if (!a.setIsa(isa)) ctx.skip();
        const r = rng(5 + format.length);
        for (const [m, k, n] of [[9, 300, 71], [6, 4096, 40], [5, 33, 130]] as const) {
          const w = randWeight(r, format, n, k);
          const x = randX(r, m, k);
          const all = new Float32Array(m * n);
          run(a, all, x, w, m, k, n);
          for (let i = 0; i < m; i++) {
            const one = new Float32Array(n);
            run(a, one, x.slice(i * k, (i + 1) * k), w, 1, k, n);
            for (let j = 0; j < n; j++) {
              if (!Object.is(one[j], all[i * n + j])) throw new Error(`${isa} ${format} m=${m} k=${k} n=${n}: row ${i} col ${j}: alone ${one[j]}, in the batch ${all[i * n + j]}`);
            }
          }
        }
      });

      it(`${isa}: ${format} rounding rule and non-finite activations`, (ctx) => {
        if (!a.setIsa(isa)) ctx.skip();
        // W = one-hot rows with quant 1 and scale 1 (q4: nibble 9): out[j] = dx * q[j]; dx = 1
        const k = 80, n = 40, G = groupsPerRow(k);
        const scales = new Uint16Array(n * G).fill(f32ToF16Bits(1));
        let w: HostWeight;
        if (format === "q8") {
          const qs = new Int8Array(n * G * 32);
          for (let j = 0; j < n; j++) qs[j * G * 32 + j] = 1;
          w = { format, rows: n, cols: k, qs, scales };
        } else {
          const qs = new Uint8Array(n * G * 16).fill(0x88);
          for (let j = 0; j < n; j++) {
            const g = j >> 5, e = j & 31, b = (j * G + g) * 16 + (e & 15);
            qs[b] = e < 16 ? 0x89 : 0x98;
          }
          w = { format, rows: n, cols: k, qs, scales };
        }
        const vals = [127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 0.49999997, -0.49999997, 126.5, -126.49999, 3.4999998, 64.5, -64.5, 1e-3, 0];
        const x = new Float32Array(3 * k);
        for (let p = 0; p < k; p++) x[p] = p === 32 ? -127 : vals[p % vals.length];
        x.set(x.subarray(0, k), k);
        x.set(x.subarray(0, k), 2 * k);
        x[k + 35] = NaN; // row 1, group 1: dx = NaN, and NaN * 0 = NaN, so all of row 1 is NaN
        x[2 * k + 70] = -Infinity; // row 2, group 2: likewise
        const out = new Float32Array(3 * n);
        run(a, out, x, w, 3, k, n);
        for (let j = 0; j < n; j++) {
          const v = x[j];
          const want = v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
          if (out[j] !== want) throw new Error(`${isa} ${format}: x = ${v} gave ${out[j]}, want ${want}`);
          expect(out[n + j]).toBeNaN();
          expect(out[2 * n + j]).toBeNaN();
        }
      });
    }
  }
});
