/**
 * `bench:engine --size`'s weights: the bf16 synthetic checkpoint (streamed, pooled rows) loads in
 * our engine, and its GGUF exports at BF16 / F16 / Q8_0 / Q4_0 hold the values our quantizer
 * makes, in ggml's block layout (read back and dequantized here by ggml's rules, independently of
 * the exporter): each weight within its quantization error of the bf16 source; with Q4_0 the
 * token embeddings and output head are Q8_0; norms F32. When node-llama-cpp is installed
 * (bench/llama), llama.cpp loads each export and its first greedy token agrees with ours at the
 * same format.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../inference/engine/engine";
import { f16ToF32 } from "../../inference/kernels/f16";
import { ensureSynthetic, type SyntheticShape, type SyntheticPaths } from "../../bench/engine/synthetic";
import { exportModelGguf } from "../../bench/engine/gguf-export";
import { GGML_TYPE_BF16, GGML_TYPE_F16, GGML_TYPE_F32, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, readGguf } from "../../bench/engine/gguf";
import { readSafetensorsHeader, readSafetensorsTensor } from "../../bench/engine/safetensors";
import { LLAMA_DIR, loadLlama, runStream as llamaStream } from "../../bench/engine/llama-side";
import { runStream as ourStream } from "../../bench/engine/ours-side";
import { promptIds } from "../../bench/engine/common";

const installed = fs.existsSync(path.join(LLAMA_DIR, "node_modules", "node-llama-cpp", "dist", "index.js"));
const SHAPE: SyntheticShape = { hidden: 256, layers: 2, heads: 4, kvHeads: 2, ffn: 512, vocab: 1000, ropeTheta: 10000, maxPositions: 256 };
const FORMATS = ["bf16", "f16", "q8", "q4"] as const;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gguf-formats-"));
let p: SyntheticPaths;

beforeAll(() => {
  p = ensureSynthetic(path.join(dir, "m"), SHAPE, [], () => {}, "bf16");
  for (const f of FORMATS) exportModelGguf(p.base, path.join(dir, `${f}.gguf`), "t", f);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** One GGUF tensor dequantized by ggml's rules (F32, F16, BF16, Q8_0, Q4_0 blocks of 32). */
function dequant(file: string, name: string): { type: number; values: Float32Array } {
  const g = readGguf(file);
  const t = g.tensors.find((x) => x.name === name)!;
  const n = t.ne.reduce((a, b) => a * b, 1);
  const buf = fs.readFileSync(file).subarray(g.dataOffset + t.offset);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    switch (t.type) {
      case GGML_TYPE_F32: out[i] = buf.readFloatLE(4 * i); break;
      case GGML_TYPE_F16: out[i] = f16ToF32(buf.readUInt16LE(2 * i)); break;
      case GGML_TYPE_BF16: { const u = new Uint32Array([buf.readUInt16LE(2 * i) << 16]); out[i] = new Float32Array(u.buffer)[0]; break; }
      case GGML_TYPE_Q8_0: { const b = Math.floor(i / 32); out[i] = f16ToF32(buf.readUInt16LE(34 * b)) * buf.readInt8(34 * b + 2 + (i % 32)); break; }
      case GGML_TYPE_Q4_0: {
        const b = Math.floor(i / 32), j = i % 32;
        const byte = buf[18 * b + 2 + (j % 16)];
        out[i] = f16ToF32(buf.readUInt16LE(18 * b)) * ((j < 16 ? byte & 15 : byte >> 4) - 8);
        break;
      }
      default: throw new Error(`type ${t.type}`);
    }
  }
  return { type: t.type, values: out };
}

describe("GGUF exports of a bf16 checkpoint", () => {
  it("types per tensor: matrices in the format, q4 keeps embeddings and head at Q8_0, norms F32", () => {
    const types = (f: string) => new Map(readGguf(path.join(dir, `${f}.gguf`)).tensors.map((t) => [t.name, t.type]));
    expect(types("q4").get("blk.0.ffn_up.weight")).toBe(GGML_TYPE_Q4_0);
    expect(types("q4").get("token_embd.weight")).toBe(GGML_TYPE_Q8_0);
    expect(types("q4").get("output.weight")).toBe(GGML_TYPE_Q8_0);
    expect(types("q8").get("blk.1.attn_q.weight")).toBe(GGML_TYPE_Q8_0);
    expect(types("bf16").get("blk.0.attn_v.weight")).toBe(GGML_TYPE_BF16);
    expect(types("f16").get("output.weight")).toBe(GGML_TYPE_F16);
    for (const f of FORMATS) expect(types(f).get("blk.0.attn_norm.weight")).toBe(GGML_TYPE_F32);
  });

  it.each(FORMATS)("%s: every weight of a matrix is the bf16 source within its quantization error", (f) => {
    const file = path.join(p.base, "model.safetensors");
    const src = readSafetensorsTensor(file, readSafetensorsHeader(file).get("model.layers.0.mlp.up_proj.weight")!);
    const { values } = dequant(path.join(dir, `${f}.gguf`), "blk.0.ffn_up.weight");
    expect(values.length).toBe(src.length);
    for (let b = 0; b < src.length / 32; b++) {
      let amax = 0;
      for (let i = 32 * b; i < 32 * b + 32; i++) amax = Math.max(amax, Math.abs(src[i]));
      // q8: half a step (d = amax/127, plus the f16 rounding of d); q4: a step (d = amax/8: the side
      // opposite the extreme weight ends at 7d, so it can clamp by up to d); bf16 exact; f16 its rounding
      const tol = f === "q8" ? (amax / 127) * 0.51 + 1e-6 : f === "q4" ? (amax / 8) * 1.01 + 1e-6 : f === "f16" ? Math.abs(amax) * 2 ** -11 : 0;
      for (let i = 32 * b; i < 32 * b + 32; i++) expect(Math.abs(values[i] - src[i]), `${f} weight ${i}`).toBeLessThanOrEqual(tol);
    }
  });

  it("our engine loads the bf16 checkpoint as stored, and as q8/q4", async () => {
    for (const dtype of ["bf16", "q8", "q4"] as const) {
      const engine = await Engine.create({ modelDir: p.base, backend: "native", log: null, maxContext: 128, dtype, weightCacheDir: path.join(dir, "w") });
      expect(engine.model.weights?.dtype).toBe(dtype);
      expect((await ourStream(engine, { promptIds: promptIds(8, 1, SHAPE.vocab), maxNewTokens: 4 })).ids.length).toBe(4);
      await engine.shutdown();
    }
  });
});

describe.skipIf(!installed)("llama.cpp on the exports", () => {
  it("loads BF16, Q8_0 and Q4_0, and its first greedy token agrees with ours at the same format", async () => {
    const prompts = [promptIds(6, 11, SHAPE.vocab), promptIds(20, 12, SHAPE.vocab), promptIds(40, 13, SHAPE.vocab)];
    const llama = await loadLlama(1);
    try {
      for (const f of ["bf16", "q8", "q4"] as const) {
        const engine = await Engine.create({ modelDir: p.base, backend: "native", log: null, maxContext: 128, dtype: f, weightCacheDir: path.join(dir, "w") });
        const model = await llama.loadModel({ modelPath: path.join(dir, `${f}.gguf`), gpuLayers: 0 });
        const ctx = await model.createContext({ contextSize: 128, sequences: 1, threads: 1 });
        const seq = ctx.getSequence();
        for (const ids of prompts) {
          const ours = (await ourStream(engine, { promptIds: ids, maxNewTokens: 4 })).ids;
          const theirs = (await llamaStream(seq, ids, 4)).ids;
          expect(theirs.length).toBe(4);
          expect(theirs[0], `${f}: ours ${ours} llama.cpp ${theirs}`).toBe(ours[0]);
        }
        await ctx.dispose();
        await model.dispose();
        await engine.shutdown();
      }
    } finally {
      await llama.dispose();
    }
  }, 240_000);
});
