/**
 * The exported GGUF files load in llama.cpp itself (node-llama-cpp, when `npm run bench:engine`
 * has installed it into bench/llama/node_modules; skipped otherwise): the model generates, the
 * LoRA adapters are accepted with their shapes and change the output.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureSynthetic } from "../../bench/engine/synthetic";
import { exportAdapterGguf, exportModelGguf } from "../../bench/engine/gguf-export";
import { LLAMA_DIR, loadLlama, runStream } from "../../bench/engine/llama-side";
import { promptIds } from "../../bench/engine/common";

const installed = fs.existsSync(path.join(LLAMA_DIR, "node_modules", "node-llama-cpp", "dist", "index.js"));
const TINY = { hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, vocab: 400, ropeTheta: 10000, maxPositions: 256 };
const SPECS = [{ name: "all", r: 4, alpha: 8, targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const }];

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-llama-")); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

describe.skipIf(!installed)("GGUF export in llama.cpp", () => {
  it("loads the model and the adapter, and generates greedily", async () => {
    const p = ensureSynthetic(path.join(dir, "m"), TINY, SPECS);
    exportModelGguf(p.base, path.join(dir, "m.gguf"));
    exportAdapterGguf(p.adapters.get("all")!, p.base, path.join(dir, "all.gguf"));
    const llama = await loadLlama(1);
    const model = await llama.loadModel({ modelPath: path.join(dir, "m.gguf"), gpuLayers: 0 });
    const gen = async (lora?: string) => {
      const ctx = await model.createContext({ contextSize: 128, sequences: 1, threads: 1, lora: lora ? { adapters: [{ filePath: lora }] } : undefined });
      const ids = (await runStream(ctx.getSequence(), promptIds(12, 5, TINY.vocab), 12)).ids;
      await ctx.dispose();
      return ids;
    };
    const base = await gen();
    expect(base).toHaveLength(12);
    expect(base.every((id) => id >= 0 && id < TINY.vocab)).toBe(true);
    expect(await gen()).toEqual(base); // greedy is deterministic
    expect(await gen(path.join(dir, "all.gguf"))).not.toEqual(base);
    await model.dispose();
    await llama.dispose();
  }, 120_000);
});
