/**
 * Loading in a chosen weight format (inference/model/weights.ts): bf16 used as stored from the
 * memory-mapped checkpoint (no copy), q8/q4 converted tensor by tensor into a cache keyed by the
 * checkpoint's content and memory-mapped on the next load, auto's choice and its reason, and the
 * errors of an unsupported or oversized dtype.
 */
import { copyFileSync, cpSync, mkdtempSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync, closeSync, truncateSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readModelConfig } from "../../inference/model/config";
import { chooseDtype, modelWeightBytes, readModelWeights } from "../../inference/model/weights";
import { ModelLoadError } from "../../inference/errors";
import { dequantRow, type HostWeight } from "../../inference/kernels/tensor";
import { convertWeight, loaderAddon } from "../../inference/kernels/quantize";
import { isMappedBuffer, MappedSafetensors, readSafetensorsHeader } from "../../inference/model/safetensors";

const ROOT = path.resolve(import.meta.dirname, "../..");
const DEMO = path.join(ROOT, "data/demo/base"); // bf16
const FIXTURE = path.join(ROOT, "tests/data/fixtures/tiny-llama/base"); // f32
const tmp = mkdtempSync(path.join(os.tmpdir(), "weights-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function rowsEqual(a: HostWeight, b: HostWeight): boolean {
  const ra = new Float32Array(a.cols), rb = new Float32Array(b.cols);
  for (let j = 0; j < a.rows; j++) {
    dequantRow(a, j, ra);
    dequantRow(b, j, rb);
    for (let p = 0; p < a.cols; p++) if (ra[p] !== rb[p]) return false;
  }
  return true;
}

describe("memory-mapped safetensors", () => {
  it("maps a tensor past 4 GiB into a file (Node 20 caps one external buffer at 4 GiB: a 7B shard is bigger)", () => {
    // a sparse 4.5 GiB file: a 4.5e9-byte U8 tensor, then a small F32 one at its end
    const file = path.join(tmp, "big.safetensors");
    const pad = 4.5e9;
    const header = Buffer.from(JSON.stringify({ pad: { dtype: "U8", shape: [pad], data_offsets: [0, pad] }, w: { dtype: "F32", shape: [4], data_offsets: [pad, pad + 16] } }).padEnd(128, " "));
    const fd = openSync(file, "w");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeSync(fd, len, 0, 8, 0);
    writeSync(fd, header, 0, header.length, 8);
    writeSync(fd, Buffer.from(new Float32Array([1.5, -2, 3.25, 4]).buffer), 0, 16, 8 + header.length + pad);
    closeSync(fd);
    try {
      const m = MappedSafetensors.open(file, loaderAddon()!.mmapFile);
      const v = m.view("w")!;
      expect(Array.from(v.data as Float32Array)).toEqual([1.5, -2, 3.25, 4]);
      expect(isMappedBuffer(v.data.buffer)).toBe(true);
      // one window is at most 4 GiB: a bigger tensor is refused with the reason, not a crash
      expect(() => m.view("pad")).toThrow(/at most 4 GiB/);
    } finally {
      rmSync(file, { force: true });
    }
  });
});

describe("weights in a chosen format", () => {
  it("bf16 as stored: every matrix is a view of the mapped checkpoint, no copy", async () => {
    const c = await readModelConfig(DEMO);
    const w = await readModelWeights(DEMO, c, { dtype: "bf16", cacheDir: tmp });
    expect(w.load).toMatchObject({ dtype: "bf16", stored: "bf16", source: "mapped", cacheFile: null });
    for (const m of [w.embed, w.lmHead, w.layers[0].q, w.layers[5].down]) {
      expect(m.format).toBe("bf16");
      if (m.format !== "bf16") throw new Error();
      expect(isMappedBuffer(m.data.buffer)).toBe(true); // a window of the file's mapping, not a copy
      expect(m.data.byteLength).toBe(m.rows * m.cols * 2);
    }
    expect(w.load!.weightBytes).toBe(modelWeightBytes(c, "bf16"));
    // auto keeps the stored format when it fits, and says why
    const auto = await readModelWeights(DEMO, c, { cacheDir: tmp });
    expect(auto.load!.dtype).toBe("bf16");
    expect(auto.load!.reason).toMatch(/auto: the checkpoint's bf16 weights .* fit in/);
  });

  it("q8: converted once into a content-keyed cache, memory-mapped on the next load", async () => {
    const cacheDir = path.join(tmp, "cache-q8");
    const c = await readModelConfig(DEMO);
    const progress: number[] = [];
    const first = await readModelWeights(DEMO, c, { dtype: "q8", cacheDir, onProgress: (f) => progress.push(f) });
    expect(first.load).toMatchObject({ dtype: "q8", source: "cache", cacheBuilt: true });
    expect(progress.at(-1)).toBe(1);
    expect(progress.every((f, i) => i === 0 || f >= progress[i - 1])).toBe(true);
    const files = readdirSync(cacheDir);
    expect(files).toHaveLength(1); // no temp file left behind
    const cacheFile = path.join(cacheDir, files[0]);
    expect(first.load!.cacheFile).toBe(cacheFile);
    const q = first.layers[2].gate;
    if (q.format !== "q8") throw new Error("q8 expected");
    expect(isMappedBuffer(q.qs.buffer) && isMappedBuffer(q.scales.buffer)).toBe(true); // views of the cache mapping
    const qsInfo = (await readSafetensorsHeader(cacheFile)).tensors.get("model.layers.2.mlp.gate_proj.weight#qs");
    expect(qsInfo && qsInfo.begin % 64).toBe(0); // 64-byte aligned in the file, so in memory
    // the cached bytes are exactly what quantizing the checkpoint gives
    const bf = await readModelWeights(DEMO, c, { dtype: "bf16" });
    expect(convertWeight(bf.layers[2].gate, "q8")).toEqual({ ...q, qs: new Int8Array(q.qs), scales: new Uint16Array(q.scales) });

    const second = await readModelWeights(DEMO, c, { dtype: "q8", cacheDir });
    expect(second.load).toMatchObject({ source: "cache", cacheBuilt: false, cacheFile });
    expect(rowsEqual(second.layers[5].down, first.layers[5].down)).toBe(true);

    // a damaged cache is rebuilt, not trusted (replaced, not truncated in place: a mapped file
    // shrinking under its mappings would fault their readers — the loader also only renames)
    copyFileSync(cacheFile, `${cacheFile}.cut`);
    truncateSync(`${cacheFile}.cut`, 1000);
    renameSync(`${cacheFile}.cut`, cacheFile);
    const third = await readModelWeights(DEMO, c, { dtype: "q8", cacheDir });
    expect(third.load).toMatchObject({ source: "cache", cacheBuilt: true });
    expect(rowsEqual(third.layers[5].down, first.layers[5].down)).toBe(true);
  });

  it("the cache key follows the checkpoint's content and the dtype", async () => {
    const cacheDir = path.join(tmp, "cache-key");
    const dir = path.join(tmp, "model-copy");
    cpSync(FIXTURE, dir, { recursive: true });
    const c = await readModelConfig(dir);
    const a = await readModelWeights(dir, c, { dtype: "q4", cacheDir });
    const b = await readModelWeights(dir, c, { dtype: "q8", cacheDir });
    expect(a.load!.cacheFile).not.toBe(b.load!.cacheFile);
    // with q4 the embeddings and the LM head stay q8
    expect([a.embed.format, a.lmHead.format, a.layers[0].q.format]).toEqual(["q8", "q8", "q4"]);
    // change the last bytes of the checkpoint (the last tensor's data): a new key
    const file = path.join(dir, "model.safetensors");
    const fd = openSync(file, "r+");
    writeSync(fd, Buffer.from([0x3c, 0x3c, 0x3c, 0x3c]), 0, 4, statSync(file).size - 4);
    closeSync(fd);
    const d = await readModelWeights(dir, c, { dtype: "q4", cacheDir });
    expect(d.load!.cacheFile).not.toBe(a.load!.cacheFile);
    expect(d.load!.cacheBuilt).toBe(true);
  });

  it("without the mapping or a cache dir, converted weights stay in memory", async () => {
    const c = await readModelConfig(FIXTURE);
    const w = await readModelWeights(FIXTURE, c, { dtype: "q8", mmap: false, cacheDir: path.join(tmp, "unused") });
    expect(w.load).toMatchObject({ dtype: "q8", stored: "f32", source: "memory", cacheFile: null });
    const f = await readModelWeights(FIXTURE, c, { dtype: "f32", mmap: false });
    expect(f.load!.source).toBe("read");
    expect(rowsEqual(w.layers[1].up, convertWeight(f.layers[1].up, "q8"))).toBe(true);
  });

  it("auto falls back to q8 when the stored weights do not fit next to the KV pool; explicit dtypes are checked", () => {
    const bytes = (f: string) => ({ f32: 28e9, bf16: 14e9, f16: 14e9, q8: 7.7e9, q4: 4.4e9 })[f]!;
    const formats = ["f32", "bf16", "f16", "q8", "q4"] as const;
    const small = { kvBytes: 1e9, totalMem: 16e9, formats };
    expect(chooseDtype("auto", "bf16", bytes, small)).toMatchObject({ dtype: "q8", reason: expect.stringMatching(/bf16 weights \(14\.0 GB\) do not fit in 16\.0 GB .*; q8 \(7\.7 GB\)/) });
    expect(chooseDtype("auto", "bf16", bytes, { ...small, totalMem: 32e9 }).dtype).toBe("bf16");
    expect(chooseDtype("auto", "bf16", bytes, { ...small, totalMem: 8e9 }).dtype).toBe("q4");
    expect(chooseDtype("q4", "bf16", bytes, small)).toMatchObject({ dtype: "q4", reason: "dtype q4 was asked for (checkpoint stored as bf16)" });
    expect(() => chooseDtype("f32", "bf16", bytes, small)).toThrow(/needs ~28\.0 GB for its f32 weights/);
    expect(() => chooseDtype("q4", "bf16", bytes, { ...small, formats: ["f32", "bf16"] })).toThrow(ModelLoadError);
    expect(() => chooseDtype("auto", "bf16", bytes, { ...small, totalMem: 4e9 })).toThrow(/does not fit .* even as q4/);
    // a backend without the stored format loads f32 under auto
    expect(chooseDtype("auto", "bf16", bytes, { ...small, totalMem: 64e9, formats: ["f32"] }).dtype).toBe("f32");
  });

  it("refuses a matrix whose shape disagrees with config.json before converting anything, naming it", async () => {
    const c = await readModelConfig(FIXTURE);
    const cacheDir = path.join(tmp, "cache-none");
    await expect(readModelWeights(FIXTURE, { ...c, intermediateSize: c.intermediateSize + 1 }, { dtype: "q8", cacheDir })).rejects.toThrow(
      /weight "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[172,64\] but config\.json implies \[173,64\]/,
    );
    expect(() => readdirSync(cacheDir)).toThrow(); // nothing written
  });
});
