/**
 * `npx tsx inference/train/reference/dump-draws.ts SEED OUT` writes what a run of the sentiment
 * recipe draws from its seed, for hf_replay.py to replay in transformers + PEFT: the initial
 * adapter (OUT/init, PEFT folder: A as initLora draws it, B = 0) and each epoch's row order
 * (OUT/order.json, indices into the train split), exactly as trainer.ts draws them.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { PROJECTIONS } from "../../adapters/lora-weights";
import { loadBaseModel } from "../base-weights";
import { loadConfig, targetModules } from "../config";
import { readRows } from "../dataset";
import { LoraTrainModel } from "../lora-model";
import { savePeftAdapter } from "../peft-save";
import { Rng } from "../tensor";

async function main(): Promise<void> {
  const [seedArg, out] = process.argv.slice(2);
  if (!seedArg || !out) throw new Error("usage: dump-draws.ts SEED OUT");
  const seed = Number(seedArg);
  const cfg = loadConfig(path.join(import.meta.dirname, "../recipes/sentiment.yaml"), {}, path.join(import.meta.dirname, "../../.."));
  const base = await loadBaseModel(cfg.base_model);
  const spec = { r: cfg.adapter.r, alpha: cfg.adapter.alpha, dropout: cfg.adapter.dropout, targets: PROJECTIONS.filter((p) => targetModules(cfg).includes(p)) };
  const model = new LoraTrainModel(base.config, base.weights, spec, "f32");
  model.initLora(Rng.derive(seed, 0));
  savePeftAdapter(path.join(out, "init"), model.params, { baseModel: base.dir, spec });
  // trainer.ts with validation_split 0 and no max_examples trains on every usable row in file
  // order (every row of the sentiment split is usable)
  const rows = readRows(cfg.dataset).rows.length;
  const order = Array.from({ length: cfg.trainer.epochs }, (_, e) => Rng.derive(seed, 1, e).shuffle(Array.from({ length: rows }, (_, i) => i)));
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, "order.json"), JSON.stringify(order));
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
