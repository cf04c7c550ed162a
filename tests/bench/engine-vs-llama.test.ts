/**
 * The synthetic model the benchmark generates is served by our engine, and llama.cpp on its GGUF
 * export computes the same function: greedy tokens agree for the base and for adapters touching
 * every projection (q/k rows permuted by the export). The llama.cpp half is skipped unless
 * `npm run bench:engine` installed node-llama-cpp into bench/llama/node_modules.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../inference/engine/engine";
import { ensureSynthetic, type SyntheticShape } from "../../bench/engine/synthetic";
import { exportAdapterGguf, exportModelGguf } from "../../bench/engine/gguf-export";
import { LLAMA_DIR, loadLlama, runStream as llamaStream } from "../../bench/engine/llama-side";
import { runStream as ourStream } from "../../bench/engine/ours-side";
import { promptIds } from "../../bench/engine/common";

const installed = fs.existsSync(path.join(LLAMA_DIR, "node_modules", "node-llama-cpp", "dist", "index.js"));
const SHAPE: SyntheticShape = { hidden: 128, layers: 2, heads: 4, kvHeads: 2, ffn: 192, vocab: 1000, ropeTheta: 10000, maxPositions: 256 };
const PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
const SPECS = [
  { name: "qv", r: 8, alpha: 16, targets: ["q_proj", "v_proj"] as const },
  { name: "all", r: 4, alpha: 8, targets: PROJ },
];
const NEW = 16;
const prompts = [promptIds(6, 11, SHAPE.vocab), promptIds(20, 12, SHAPE.vocab), promptIds(40, 13, SHAPE.vocab)];

let dir: string;
let engine: Engine;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-vs-"));
  const p = ensureSynthetic(path.join(dir, "m"), SHAPE, SPECS);
  engine = await Engine.create({ modelDir: p.base, backend: "native", log: null, maxContext: 128 });
  for (const s of SPECS) await engine.registerAdapter(s.name, p.adapters.get(s.name)!, "local", { validate: true });
}, 120_000);
afterAll(async () => {
  await engine?.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function ours(adapter: string | null): Promise<number[][]> {
  const out: number[][] = [];
  for (const ids of prompts) out.push((await ourStream(engine, { promptIds: ids, adapterId: adapter, maxNewTokens: NEW })).ids);
  return out;
}

describe("synthetic model in our engine", () => {
  it("loads as a Mistral model with the generated shapes, and adapters change the output", async () => {
    expect(engine.model.architecture).toBe("MistralForCausalLM");
    expect(engine.model.vocabSize).toBe(1000);
    const perLayer = 2 * 128 * 128 + 2 * 128 * 64 + 3 * 128 * 192 + 2 * 128;
    expect(engine.model.parameters).toBe(2 * 1000 * 128 + 2 * perLayer + 128);
    expect(engine.encode("ab")[0]).toBe(1);
    const base = await ours(null);
    expect(base.every((ids) => ids.length === NEW)).toBe(true);
    expect(await ours("all")).not.toEqual(base);
  }, 120_000);
});

describe.skipIf(!installed)("synthetic model: our engine vs llama.cpp on the GGUF export", () => {
  it("gives the same greedy tokens for the base, a q/v adapter and an all-projection adapter", async () => {
    const p = ensureSynthetic(path.join(dir, "m"), SHAPE, SPECS);
    exportModelGguf(p.base, path.join(dir, "m.gguf"));
    for (const s of SPECS) exportAdapterGguf(p.adapters.get(s.name)!, p.base, path.join(dir, `${s.name}.gguf`));
    const llama = await loadLlama(1);
    const model = await llama.loadModel({ modelPath: path.join(dir, "m.gguf"), gpuLayers: 0 });
    for (const name of [null, "qv", "all"]) {
      const ctx = await model.createContext({
        contextSize: 128, sequences: 1, threads: 1, lora: name ? { adapters: [{ filePath: path.join(dir, `${name}.gguf`) }] } : undefined,
      });
      const seq = ctx.getSequence();
      const theirs: number[][] = [];
      for (const ids of prompts) theirs.push((await llamaStream(seq, ids, NEW)).ids);
      await ctx.dispose();
      expect(await ours(name), `adapter ${name ?? "base"}`).toEqual(theirs);
    }
    await model.dispose();
    await llama.dispose();
  }, 180_000);
});
