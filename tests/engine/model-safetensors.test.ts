/**
 * The safetensors reader on hand-built files: every dtype converts to the exact fp32 value,
 * and each kind of malformed header is a SafetensorsError naming the file and the tensor.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { halfToFloat32, readSafetensorsHeader, SafetensorsReader } from "../../inference/model/safetensors";
import { SafetensorsError } from "../../inference/errors";

const tmp = mkdtempSync(path.join(os.tmpdir(), "safetensors-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** writes a safetensors file from a header object and a data buffer */
function write(header: Record<string, unknown>, data: Buffer, headerText?: string): string {
  const json = Buffer.from(headerText ?? JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(tmp, `t${n++}.safetensors`);
  writeFileSync(file, Buffer.concat([len, json, data]));
  return file;
}

const F32 = Float32Array.from([1.5, -2.25, 3.1415927, 0, -0, 65504, 1e-8, -3e38]);

describe("safetensors reader", () => {
  it("reads F32, F16 and BF16 tensors as exact fp32 values", async () => {
    const f32 = Buffer.from(F32.buffer);
    // bf16: the top 16 bits of fp32 (values chosen to be exactly representable)
    const bfVals = Float32Array.from([1.5, -2.25, 0.15625, 2 ** 120, -0]);
    const bf = new Uint16Array(new Uint32Array(bfVals.buffer).map((u) => u >>> 16));
    // f16 bit patterns: 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), +inf, 0.333251953125
    const halfBits = Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555]);
    const halfVals = [1, -2, 65504, 2 ** -24, Infinity, 0.333251953125];
    const data = Buffer.concat([f32, Buffer.from(bf.buffer), Buffer.from(halfBits.buffer)]);
    const a = f32.length, b = a + bf.byteLength, c = b + halfBits.byteLength;
    const file = write({
      __metadata__: { format: "pt" },
      w32: { dtype: "F32", shape: [2, 4], data_offsets: [0, a] },
      wbf: { dtype: "BF16", shape: [5], data_offsets: [a, b] },
      wf16: { dtype: "F16", shape: [6], data_offsets: [b, c] },
    }, data);
    const r = await SafetensorsReader.open(file);
    try {
      expect(r.header.metadata).toEqual({ format: "pt" });
      const t32 = await r.readFloat32("w32");
      expect(t32.shape).toEqual([2, 4]);
      expect(Array.from(t32.data)).toEqual(Array.from(F32));
      expect(Array.from((await r.readFloat32("wbf")).data)).toEqual(Array.from(bfVals));
      expect(Array.from((await r.readFloat32("wf16")).data)).toEqual(halfVals);
      await expect(r.readFloat32("nope")).rejects.toThrow(/tensor "nope" is missing/);
    } finally {
      await r.close();
    }
  });

  it("converts every f16 bit pattern like IEEE 754 half precision (NaN stays NaN)", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const out = new Float32Array(65536);
    halfToFloat32(all, "F16", out);
    expect(out[0x3c00]).toBe(1);
    expect(out[0x8000]).toBe(-0);
    expect(out[0x0400]).toBe(2 ** -14); // smallest normal
    expect(out[0x03ff]).toBe(1023 * 2 ** -24); // largest subnormal
    expect(out[0xfc00]).toBe(-Infinity);
    expect(Number.isNaN(out[0x7e00])).toBe(true);
    // monotone over the positive finite range
    let firstNotIncreasing = -1;
    for (let h = 1; h < 0x7c00 && firstNotIncreasing < 0; h++) if (!(out[h] > out[h - 1])) firstNotIncreasing = h;
    expect(firstNotIncreasing).toBe(-1);
  });

  const bad: [string, () => string, RegExp][] = [
    ["a file shorter than the length prefix", () => { const f = path.join(tmp, `short${n++}`); writeFileSync(f, Buffer.from([1, 2, 3])); return f; }, /too short/],
    ["a header length past the end", () => { const f = path.join(tmp, `len${n++}`); const b = Buffer.alloc(16); b.writeBigUInt64LE(1000n); writeFileSync(f, b); return f; }, /header length 1000/],
    ["a header that is not JSON", () => write({}, Buffer.alloc(0), "{not json}"), /not valid JSON/],
    ["an unknown dtype", () => write({ w: { dtype: "Q4", shape: [2], data_offsets: [0, 2] } }, Buffer.alloc(2)), /"w": unknown dtype "Q4"/],
    ["a negative shape", () => write({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, Buffer.alloc(4)), /"w": shape/],
    ["offsets past the data", () => write({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(8)), /"w": data ends at byte 16/],
    ["a byte span that disagrees with shape x dtype", () => write({ w: { dtype: "F16", shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(8)), /"w": 8 bytes stored for shape \[3\] of F16 \(6 expected\)/],
    ["reversed offsets", () => write({ w: { dtype: "F32", shape: [0], data_offsets: [4, 0] } }, Buffer.alloc(4)), /begin <= end/],
    ["overlapping tensors", () => write({
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
    }, Buffer.alloc(12)), /"a" and "b" overlap/],
  ];

  it.each(bad)("refuses %s with a SafetensorsError", async (_label, make, message) => {
    const file = make();
    const err = await readSafetensorsHeader(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message.startsWith(path.basename(file))).toBe(true);
    expect((err as Error).message).toMatch(message);
  });

  it("a tensor truncated after a valid header is refused when read", async () => {
    const file = write({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(16));
    const r = await SafetensorsReader.open(file);
    // shrink the file under the open reader: the read hits the end of the file
    writeFileSync(file, Buffer.alloc(20));
    await expect(r.readFloat32("w")).rejects.toThrow(SafetensorsError);
    await r.close();
  });
});
