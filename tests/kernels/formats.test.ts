import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import path from "node:path";
import { dequantRow, groupsPerRow, QGROUP, type HostWeight } from "../../inference/kernels/tensor";
import { convertWeight } from "../../inference/kernels/quantize";
import { f32ToF16Bits } from "../../inference/kernels/f16";
import { rng, randArray } from "../helpers/random";

// The native matmul of every compact weight format (f16, bf16, q8, q4) against the plain loop
//   out[i*n+j] = Σ_p x[i*k+p] * W[j,p],  W[j,:] = dequantRow(w, j)
// (summed in f64 here) with f32 activations (q8/q4: setQuantActivations("f32"); the default int8
// path has its own plain loop, tests/kernels/formats-int8.test.ts), on random shapes: odd k (partial last group), m = 1..3 (GEMV path) and
// m >= 4 (dequantize-then-GEMM path, including > 128 rows), n across thread-task and 64-row
// chunk boundaries, for every instruction-set build this CPU runs. The addon is loaded directly
// (not through native.ts) so these tests pin the raw exports' contract.

type F32 = Float32Array;
interface FormatAddon {
  matmulF16(out: F32, x: F32, w: Uint16Array, m: number, k: number, n: number): void;
  matmulBf16(out: F32, x: F32, w: Uint16Array, m: number, k: number, n: number): void;
  matmulQ8(out: F32, x: F32, qs: Int8Array, scales: Uint16Array, m: number, k: number, n: number): void;
  matmulQ4(out: F32, x: F32, qs: Uint8Array, scales: Uint16Array, m: number, k: number, n: number): void;
  info(): { isa: string; bestIsa: string; threads: number };
  setIsa(name: string): boolean;
  setQuantActivations(mode: string): boolean;
}

const ADDON = path.resolve(import.meta.dirname, "../../build/Release/lora_kernels.node");
const addon: FormatAddon | null = existsSync(ADDON) ? (createRequire(import.meta.url)(ADDON) as FormatAddon) : null;
if (!addon) it("native addon is built", () => expect.fail(`native addon missing at ${ADDON}; run npm install`));

/** A random (n, k) weight in `format`; f16 ones include subnormals, zeros and large values. */
function randWeight(r: () => number, format: "f16" | "bf16" | "q8" | "q4", n: number, k: number): HostWeight {
  const f = randArray(r, n * k);
  // vary the magnitude per row (scales differ group to group) and put in a few zeros
  for (let j = 0; j < n; j++) {
    const mag = 2 ** Math.floor(r() * 12 - 8);
    for (let p = 0; p < k; p++) f[j * k + p] *= r() < 0.05 ? 0 : mag;
  }
  const w = convertWeight({ format: "f32", rows: n, cols: k, data: f }, format);
  if (format === "f16" && w.format === "f16") {
    for (let i = 0; i < n * k; i += 7) w.data[i] = 1 + Math.floor(r() * 0x3ff); // subnormal
    for (let i = 3; i < n * k; i += 11) w.data[i] = f32ToF16Bits((r() < 0.5 ? -1 : 1) * 60000 * r());
  }
  return w;
}

/** The plain loop in f64 and Σ|x·w| per output (the scale of its rounding error). */
function reference(x: F32, w: HostWeight, m: number, k: number, n: number): { want: Float64Array; mag: Float64Array } {
  const want = new Float64Array(m * n);
  const mag = new Float64Array(m * n);
  const row = new Float32Array(k);
  for (let j = 0; j < n; j++) {
    dequantRow(w, j, row);
    for (let i = 0; i < m; i++) {
      let s = 0;
      let a = 0;
      for (let p = 0; p < k; p++) {
        s += x[i * k + p] * row[p];
        a += Math.abs(x[i * k + p] * row[p]);
      }
      want[i * n + j] = s;
      mag[i * n + j] = a;
    }
  }
  return { want, mag };
}

function run(a: FormatAddon, out: F32, x: F32, w: HostWeight, m: number, k: number, n: number): void {
  switch (w.format) {
    case "f16": return a.matmulF16(out, x, w.data, m, k, n);
    case "bf16": return a.matmulBf16(out, x, w.data, m, k, n);
    case "q8": return a.matmulQ8(out, x, w.qs, w.scales, m, k, n);
    case "q4": return a.matmulQ4(out, x, w.qs, w.scales, m, k, n);
    default: throw new Error("not a compact format");
  }
}

const FORMATS = ["f16", "bf16", "q8", "q4"] as const;
const ISAS = ["avx512vnni", "avx512", "avx2", "generic"] as const;
// [m, k, n]: tiny, partial groups (k % 32 != 0, k < 32, k a multiple of VW but not of 32),
// GEMV rows 1-3, GEMM from 4 rows, > 128 rows (two row blocks), n past one 64-row chunk and
// sizes big enough to be split across threads (2·m·n·k > 2e5).
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 7, 3], [1, 31, 5], [2, 32, 9], [3, 33, 17], [1, 48, 8], [4, 16, 13], [5, 63, 70],
  [1, 100, 67], [2, 257, 130], [3, 512, 96], [1, 1000, 300], [4, 96, 65], [9, 129, 200],
  [17, 300, 129], [130, 72, 70], [1, 4096, 64], [8, 515, 257],
];

describe.runIf(addon)("compact weight matmul vs the plain loop", () => {
  const a = addon!;
  let best = "";
  let qact = "";
  beforeAll(() => {
    best = a.info().isa;
    qact = (a.info() as { quantActivations?: string }).quantActivations ?? "int8";
    expect(a.setQuantActivations("f32")).toBe(true);
  });
  afterAll(() => {
    a.setIsa(best);
    a.setQuantActivations(qact);
  });

  for (const isa of ISAS) {
    for (const format of FORMATS) {
      it(`${isa}: ${format} on odd, GEMV and GEMM shapes`, (ctx) => {
        if (!a.setIsa(isa)) ctx.skip();
        const r = rng(7 + format.length * 31 + isa.length);
        for (const [m, k, n] of SHAPES) {
          const w = randWeight(r, format, n, k);
          // x has NaN after its m*k values: a kernel that reads past row m-1's end (the
          // partial last group) would turn a result into NaN.
          const x = new Float32Array(m * k + 64).fill(NaN);
          x.set(randArray(r, m * k));
          const out = new Float32Array(m * n + 1).fill(12345);
          run(a, out, x, w, m, k, n);
          const { want, mag } = reference(x, w, m, k, n);
          for (let i = 0; i < m * n; i++) {
            const err = Math.abs(out[i] - want[i]);
            // f32 accumulation over k terms: a few ulps of Σ|x·w| (blocked sums grow ~ sqrt(k))
            if (!(err <= 2e-6 * Math.sqrt(k) * mag[i] + 1e-30)) {
              throw new Error(`${isa} ${format} m=${m} k=${k} n=${n}: out[${i}] = ${out[i]}, want ${want[i]} (err ${err}, Σ|xw| ${mag[i]})`);
            }
          }
          expect(out[m * n]).toBe(12345); // nothing written past the result
        }
      });
    }

    it(`${isa}: q8 and q4 decode partial-group padding as zero`, (ctx) => {
      if (!a.setIsa(isa)) ctx.skip();
      // k = 40: group 1 holds 8 real weights; set every real quant to 1 and every scale to 1.0
      const k = 40, n = 3, G = groupsPerRow(k);
      const scales = new Uint16Array(n * G).fill(f32ToF16Bits(1));
      const qs8 = new Int8Array(n * G * QGROUP);
      const qs4 = new Uint8Array(n * G * 16).fill(0x88); // q - 8 = 0 everywhere (incl. padding)
      for (let j = 0; j < n; j++) {
        for (let p = 0; p < k; p++) {
          const g = p >> 5, e = p & 31;
          qs8[j * G * QGROUP + p] = j + 1;
          const byte = (j * G + g) * 16 + (e & 15);
          qs4[byte] = e < 16 ? (qs4[byte] & 0xf0) | (9 + j) : (qs4[byte] & 0x0f) | ((9 + j) << 4);
        }
      }
      const x = new Float32Array(k).fill(1);
      const out = new Float32Array(n);
      a.matmulQ8(out, x, qs8, scales, 1, k, n);
      expect(Array.from(out)).toEqual([40, 80, 120]);
      a.matmulQ4(out, x, qs4, scales, 1, k, n);
      expect(Array.from(out)).toEqual([40, 80, 120]);
      const x5 = new Float32Array(5 * k).fill(1);
      const out5 = new Float32Array(5 * n);
      a.matmulQ4(out5, x5, qs4, scales, 5, k, n); // the GEMM path
      expect(Array.from(out5.subarray(4 * n))).toEqual([40, 80, 120]);
    });
  }

  it("rejects wrong array types and arrays too small for the dims", () => {
    const k = 33, n = 2, G = groupsPerRow(k);
    const out = new Float32Array(n), x = new Float32Array(k);
    const qs8 = new Int8Array(n * G * 32), qs4 = new Uint8Array(n * G * 16), sc = new Uint16Array(n * G);
    expect(() => a.matmulQ8(out, x, qs4 as unknown as Int8Array, sc, 1, k, n)).toThrow(/qs must be an Int8Array/);
    expect(() => a.matmulQ4(out, x, qs8 as unknown as Uint8Array, sc, 1, k, n)).toThrow(/qs must be a Uint8Array/);
    expect(() => a.matmulQ8(out, x, qs8, new Float32Array(n * G) as unknown as Uint16Array, 1, k, n)).toThrow(/scales must be a Uint16Array/);
    expect(() => a.matmulF16(out, x, new Float32Array(n * k) as unknown as Uint16Array, 1, k, n)).toThrow(/Uint16Array/);
    // q8 rows are padded to whole groups: n*k bytes is not enough
    expect(() => a.matmulQ8(out, x, new Int8Array(n * k), sc, 1, k, n)).toThrow(RangeError);
    expect(() => a.matmulQ4(out, x, qs4, new Uint16Array(n * G - 1), 1, k, n)).toThrow(/array too small/);
    expect(() => a.matmulF16(out, x, new Uint16Array(n * k - 1), 1, k, n)).toThrow(/array too small/);
    expect(() => a.matmulQ8(out, x, qs8, sc, 1, k, n + 1)).toThrow(RangeError);
    expect(() => a.matmulQ4(out, x, qs4, sc, 1, -1, n)).toThrow(/non-negative integer/);
  });
});
