/**
 * llama.cpp's side of http-steps.ts --llama (node-llama-cpp from bench/llama, as bench/engine's
 * llama side): the ~25M model and its 8 adapters exported to GGUF (bench/engine/gguf-export.ts),
 * one context per adapter evaluating concurrently (llama.cpp applies a LoRA per context), the
 * same 10-token prompts and 64 greedy tokens. Commands on stdin: {"figure": "P3", "run": r,
 * "prompts": [[ids]...]} -> aggregate tok/s (bench/engine/common.ts serveCommands).
 */
import fs from "node:fs";
import path from "node:path";
import { aggregateRate, serveCommands, type Command } from "../engine/common";
import { loadLlama, runStream, type LlamaSequence } from "../engine/llama-side";
import { exportAdapterGguf, exportModelGguf } from "../engine/gguf-export";
import { ensure25m } from "./synthetic-25m";

const NEW = 64;

/** GGUF files next to the safetensors ones, made once per synthetic model */
function ensureGguf(): { model: string; adapters: string[] } {
  const synth = ensure25m();
  const dir = path.join(synth.root, "gguf");
  const names = [...synth.adapters.keys()].slice(0, 8);
  const stamp = fs.readFileSync(path.join(synth.root, "stamp.json"), "utf8");
  const model = path.join(dir, "base.gguf");
  const adapters = names.map((n) => path.join(dir, `${n}.gguf`));
  if (fs.existsSync(path.join(dir, "stamp.json")) && fs.readFileSync(path.join(dir, "stamp.json"), "utf8") === stamp) return { model, adapters };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  exportModelGguf(synth.base, model, "loraland-compat-25m");
  names.forEach((n, i) => exportAdapterGguf(synth.adapters.get(n)!, synth.base, adapters[i]!));
  fs.writeFileSync(path.join(dir, "stamp.json"), stamp);
  return { model, adapters };
}

async function main(): Promise<void> {
  const threads = Number(process.argv[2] ?? 2);
  const files = ensureGguf();
  const llama = await loadLlama(threads);
  const model = await llama.loadModel({ modelPath: files.model, gpuLayers: 0 });
  const ctxs = await Promise.all(files.adapters.map((f) => model.createContext({ contextSize: 256, sequences: 1, threads, lora: { adapters: [{ filePath: f }] } })));
  const seqs: LlamaSequence[] = ctxs.map((c) => c.getSequence());
  await serveCommands(async (c: Command & { prompts?: number[][] }) => {
    if (c.figure !== "P3" || !c.prompts) throw new Error(`unknown command ${JSON.stringify(c)}`);
    return aggregateRate(await Promise.all(seqs.map((s, i) => runStream(s, c.prompts![i]!, NEW))));
  }, async () => {
    for (const c of ctxs) await c.dispose();
    await model.dispose();
    await llama.dispose();
  });
}

await main();
