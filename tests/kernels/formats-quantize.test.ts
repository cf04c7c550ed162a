import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { dequantRow, groupsPerRow, QGROUP, weightBytes, checkWeight, type HostWeight } from "../../inference/kernels/tensor";
import { convertWeight, formatForRole, loaderAddon, quantErrorBound } from "../../inference/kernels/quantize";
import { toBf16, fromBf16 } from "../../inference/kernels/bf16";
import { toF16, fromF16, f32ToF16Bits, f16ToF32 } from "../../inference/kernels/f16";

// Quantizing f32 / bf16 / f16 rows to q8 and q4 (./quantize.ts): the layout, the per-weight
// error bound against each group's max |w|, partial last groups, and the float casts.

function rowsOf(w: HostWeight): Float32Array[] {
  const out: Float32Array[] = [];
  for (let j = 0; j < w.rows; j++) {
    const r = new Float32Array(w.cols);
    dequantRow(w, j, r);
    out.push(r);
  }
  return out;
}

/** Every dequantized weight within quantErrorBound of its source, per group; returns the max error / amax. */
function expectWithinBound(src: HostWeight, q: HostWeight, format: "q8" | "q4"): number {
  const a = rowsOf(src), b = rowsOf(q);
  let worst = 0;
  for (let j = 0; j < src.rows; j++) {
    for (let g = 0; g < groupsPerRow(src.cols); g++) {
      const p0 = g * QGROUP, p1 = Math.min(src.cols, p0 + QGROUP);
      let amax = 0;
      for (let p = p0; p < p1; p++) amax = Math.max(amax, Math.abs(a[j][p]));
      const bound = quantErrorBound(format, amax);
      for (let p = p0; p < p1; p++) {
        const err = Math.abs(a[j][p] - b[j][p]);
        if (!(err <= bound)) throw new Error(`${format} row ${j} col ${p}: ${a[j][p]} -> ${b[j][p]} (err ${err} > ${bound})`);
        if (amax > 0) worst = Math.max(worst, err / amax);
      }
    }
  }
  return worst;
}

const floatArray = (n: number) =>
  fc.float32Array({ minLength: n, maxLength: n, noNaN: true, noDefaultInfinity: true, min: -1e4, max: 1e4 });

describe("quantize", () => {
  it("q8 and q4 of random f32 rows stay within the per-group bound (odd widths, property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 100 }), fc.constantFrom("q8", "q4"), (rows, cols, format) =>
        fc.assert(
          fc.property(floatArray(rows * cols), (data) => {
            const src: HostWeight = { format: "f32", rows, cols, data };
            const q = convertWeight(src, format);
            checkWeight("q", q, rows, cols);
            expect(weightBytes(q)).toBe(rows * groupsPerRow(cols) * (format === "q8" ? 34 : 18));
            expectWithinBound(src, q, format);
          }),
          { numRuns: 5 },
        ),
      ),
      { numRuns: 40 },
    );
  });

  it("typical error: q8 ≤ 0.4% and q4 ≤ 12.6% of the group's max |w|", () => {
    const rows = 64, cols = 4096;
    const data = new Float32Array(rows * cols);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 12.9898) * 0.02;
    const src: HostWeight = { format: "f32", rows, cols, data };
    expect(expectWithinBound(src, convertWeight(src, "q8"), "q8")).toBeLessThan(0.004);
    expect(expectWithinBound(src, convertWeight(src, "q4"), "q4")).toBeLessThan(0.126);
  });

  it("quantizes bf16 and f16 sources as their exact f32 values", () => {
    const rows = 3, cols = 70;
    const data = new Float32Array(rows * cols).map((_, i) => Math.cos(i * 0.37) * (1 + (i % 5)));
    for (const [fmt, bits] of [["bf16", toBf16(data)], ["f16", toF16(data)]] as const) {
      const src: HostWeight = { format: fmt, rows, cols, data: bits };
      const viaF32: HostWeight = { format: "f32", rows, cols, data: fmt === "bf16" ? fromBf16(bits) : fromF16(bits) };
      for (const q of ["q8", "q4"] as const) {
        expect(convertWeight(src, q)).toEqual(convertWeight(viaF32, q));
        expectWithinBound(src, convertWeight(src, q), q);
      }
    }
  });

  it("lays out q8 and q4 as tensor.ts documents (scale, nibble order, padding)", () => {
    // one row, k = 40: group 0 holds 2·(q - 8) for q = 5p mod 16 (on the grid of d = 2, with
    // -16 at element 0), group 1 = 8 weights of 2
    const cols = 40;
    const data = new Float32Array(cols);
    const q0 = (p: number) => (p * 5) % 16;
    for (let p = 0; p < 32; p++) data[p] = 2 * (q0(p) - 8);
    for (let p = 32; p < 40; p++) data[p] = 2;
    const src: HostWeight = { format: "f32", rows: 1, cols, data };
    const q8 = convertWeight(src, "q8");
    if (q8.format !== "q8") throw new Error("q8");
    expect(f16ToF32(q8.scales[0])).toBe(f16ToF32(f32ToF16Bits(16 / 127)));
    expect(q8.qs[0]).toBe(-127);
    expect(Array.from(q8.qs.subarray(40, 64))).toEqual(new Array(24).fill(0)); // padding
    const q4 = convertWeight(src, "q4");
    if (q4.format !== "q4") throw new Error("q4");
    expect(f16ToF32(q4.scales[0])).toBe(2); // m = -16: d = -16 / -8, exact on this grid
    // element b in the low nibble of byte b, element b + 16 in its high nibble
    for (let b = 0; b < 16; b++) expect(q4.qs[b]).toBe(q0(b) | (q0(b + 16) << 4));
    // group 1: m = 2, d = -0.25, weights 2 -> q 0; padding elements are 8 (decode to 0)
    expect(f16ToF32(q4.scales[1])).toBe(-0.25);
    expect(Array.from(q4.qs.subarray(16, 24))).toEqual(new Array(8).fill(0x80));
    expect(Array.from(q4.qs.subarray(24, 32))).toEqual(new Array(8).fill(0x88));
    expect(Array.from(rowsOf(q4)[0])).toEqual(Array.from(data)); // exact: every weight on its grid
  });

  it("all-zero and tiny groups quantize to zero without dividing by zero", () => {
    const data = new Float32Array(64);
    data[40] = 1e-12; // below f16's smallest scale
    for (const f of ["q8", "q4"] as const) {
      const q = convertWeight({ format: "f32", rows: 1, cols: 64, data }, f);
      const r = rowsOf(q)[0];
      expect(r.every((v) => v === 0)).toBe(true);
    }
  });

  it("refuses non-finite weights and q8/q4 sources, naming the tensor", () => {
    const data = new Float32Array(33);
    data[32] = NaN;
    expect(() => convertWeight({ format: "f32", rows: 1, cols: 33, data }, "q8", "layers.0.mlp.up_proj")).toThrow(
      /layers\.0\.mlp\.up_proj: non-finite weight at row 0, column 32/,
    );
    const q = convertWeight({ format: "f32", rows: 1, cols: 4, data: new Float32Array(4) }, "q8");
    expect(() => convertWeight(q, "q4", "w")).toThrow(/w: cannot convert q8 weights to q4/);
    expect(convertWeight(q, "q8")).toBe(q);
  });

  it("casts between f32, bf16 and f16 like torch (round to nearest even; f16 overflow refused)", () => {
    const data = new Float32Array([1, -2.5, 3.14159, 1e-3, 65504, 0]);
    const src: HostWeight = { format: "f32", rows: 2, cols: 3, data };
    const b = convertWeight(src, "bf16");
    expect(b.format === "bf16" && Array.from(b.data)).toEqual(Array.from(toBf16(data)));
    const h = convertWeight(src, "f16");
    expect(h.format === "f16" && Array.from(h.data)).toEqual(Array.from(toF16(data)));
    const back = convertWeight(h, "f32");
    expect(back.format === "f32" && Array.from(back.data)).toEqual(Array.from(fromF16(toF16(data))));
    expect(() => convertWeight({ format: "f32", rows: 1, cols: 1, data: new Float32Array([1e5]) }, "f16", "emb")).toThrow(/emb: .*overflows f16/);
  });

  it("the native quantizer writes the same bytes as the TypeScript definition (f32, bf16, f16 sources)", () => {
    expect(loaderAddon(), "native addon with quantize/mmapFile (npm install)").not.toBeNull();
    const rows = 37, cols = 161; // partial last group; 37 rows span several pool tasks
    const data = new Float32Array(rows * cols);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 1.7) * 2 ** ((i % 13) - 6) * (i % 97 === 0 ? 0 : 1);
    // exact ties of the rounding (w / d = k + 0.5) and a tiny group (subnormal f16 scale)
    for (let p = 0; p < 32; p++) data[p] = p === 0 ? 127 : p - 15.5;
    for (let p = 32; p < 64; p++) data[p] = (p - 40) * 1e-9;
    for (const src of [
      { format: "f32", rows, cols, data },
      { format: "bf16", rows, cols, data: toBf16(data) },
      { format: "f16", rows, cols, data: toF16(data) },
    ] as HostWeight[]) {
      for (const q of ["q8", "q4"] as const) {
        expect(convertWeight(src, q, "w", { native: true }), `${src.format} -> ${q}`).toEqual(convertWeight(src, q, "w", { native: false }));
      }
    }
    const bad = new Float32Array(64);
    bad[50] = Infinity;
    expect(() => convertWeight({ format: "f32", rows: 2, cols: 32, data: bad }, "q4", "lm_head.weight", { native: true })).toThrow(
      /lm_head\.weight: non-finite weight at row 1, column 18; cannot quantize/,
    );
  });

  it("with q4 the embeddings and the LM head stay q8", () => {
    expect(formatForRole("q4", "linear")).toBe("q4");
    expect(formatForRole("q4", "embed")).toBe("q8");
    expect(formatForRole("q4", "lmHead")).toBe("q8");
    for (const f of ["f32", "bf16", "f16", "q8"] as const) for (const r of ["embed", "lmHead", "linear"] as const) expect(formatForRole(f, r)).toBe(f);
  });
});
