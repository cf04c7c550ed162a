/**
 * A web run's config: what the caller sends (LoRA Land's Ludwig-shaped keys, without paths) merged
 * over the dataset's defaults (a demo task's template and output column), with the server's paths
 * (the served base model, the dataset file, the run's folder) filled in, then validated by the
 * training engine's own validator (inference/train/config.ts), so every refusal names the field.
 */
import { trainConfigSchema, TrainConfigError, validateConfig, type TrainConfig } from "../../inference/train/config";
import type { TrainRunConfig } from "../../db/schema/train";
import { LoraLandError } from "../errors";
import type { TaskCard } from "../eval/tasks";

/** Keys the server sets: a caller may not point a run at another model, file or folder. */
const SERVER_KEYS = ["base_model", "dataset", "output_dir", "model_type"] as const;

/** The defaults a run starts from (the engine's), for the page's form. */
export function defaultRunConfig(card?: Pick<TaskCard, "prompt_template" | "output_column"> | null): TrainRunConfig {
  const d = trainConfigSchema.parse({ base_model: "-", dataset: "-", prompt_template: card?.prompt_template ?? "{input}", output_column: card?.output_column ?? "output" });
  return { prompt_template: d.prompt_template, output_column: d.output_column, adapter: d.adapter, trainer: d.trainer };
}

/**
 * Validate a caller's config for a run. `raw` is the caller's object; `card` supplies the
 * template and output column when absent. Throws LoraLandError BAD_REQUEST "config.<field>: ...".
 */
export function buildRunConfig(raw: Record<string, unknown>, paths: { modelDir: string; datasetFile: string; outputDir: string }, card: Pick<TaskCard, "prompt_template" | "output_column"> | null): { engine: TrainConfig; stored: TrainRunConfig } {
  for (const k of SERVER_KEYS) {
    if (k in raw) throw new LoraLandError("BAD_REQUEST", `config.${k}: set by the server (the served base model, the chosen dataset and the run's folder), not by the request`);
  }
  const merged: Record<string, unknown> = { ...raw };
  if (merged.prompt_template === undefined && card) merged.prompt_template = card.prompt_template;
  if (merged.output_column === undefined && card) merged.output_column = card.output_column;
  let engine: TrainConfig;
  try {
    engine = validateConfig({ ...merged, base_model: paths.modelDir, dataset: paths.datasetFile, output_dir: paths.outputDir }, {}, "/");
  } catch (err) {
    if (err instanceof TrainConfigError) throw new LoraLandError("BAD_REQUEST", `config.${err.message}`, { cause: err });
    throw err;
  }
  const { prompt_template, output_column, adapter, trainer } = engine;
  return { engine, stored: { prompt_template, output_column, adapter: { r: adapter.r, alpha: adapter.alpha, dropout: adapter.dropout, target_modules: adapter.target_modules }, trainer } };
}

/** The engine's config of a stored run (a resumed run is rebuilt from its row). */
export function engineConfig(stored: TrainRunConfig, paths: { modelDir: string; datasetFile: string; outputDir: string }): TrainConfig {
  return validateConfig({ ...stored, base_model: paths.modelDir, dataset: paths.datasetFile, output_dir: paths.outputDir }, {}, "/");
}

/** Optimizer steps of a run on `usable` examples (inference/train/trainer.ts's arithmetic). */
export function plannedSteps(usable: number, t: TrainRunConfig["trainer"]): number {
  const nVal = t.validation_split > 0 ? Math.max(1, Math.round(usable * t.validation_split)) : 0;
  let nTrain = Math.max(0, usable - nVal);
  if (t.max_examples !== undefined) nTrain = Math.min(nTrain, t.max_examples);
  const micro = Math.ceil(nTrain / t.batch_size);
  return Math.ceil(micro / t.gradient_accumulation) * t.epochs;
}
