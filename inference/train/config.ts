/**
 * Training configs in LoRA Land's (Ludwig's) shape, YAML or JSON:
 *
 *   base_model: data/demo/base          # HF model directory
 *   dataset: data/demo/tasks/sentiment/train.jsonl.gz
 *   prompt_template: "Review: {review}\nSentiment:"
 *   output_column: output
 *   adapter: { type: lora, r: 16, alpha: 32, dropout: 0.05, target_modules: [q_proj, v_proj] }
 *   trainer: { epochs: 6, learning_rate: 0.002, batch_size: 64, ... }
 *
 * Flags override the parsed config before validation; relative paths resolve against the
 * current directory. Every refusal is a TrainConfigError naming the field.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { z } from "zod";
import { PROJECTIONS } from "../adapters/lora-weights";
import { EngineError } from "../errors";
import { parseTemplate } from "../../components/playground/template";

export class TrainConfigError extends EngineError {
  constructor(message: string, field?: string) {
    super("train_config_invalid", field ? `${field}: ${message}` : message, { status: 422, field });
    this.name = "TrainConfigError";
  }
}

const int = (min: number) => z.number().int().min(min);

const adapterSchema = z.object({
  type: z.literal("lora").default("lora"),
  r: int(1).max(1024).default(8),
  alpha: z.number().positive().default(16),
  dropout: z.number().min(0).lt(1).default(0.05),
  target_modules: z.union([
    z.literal("all-linear"),
    z.array(z.enum(PROJECTIONS)).min(1),
  ], { error: `must be "all-linear" or a non-empty list of ${PROJECTIONS.join(", ")}` }).default(["q_proj", "v_proj"]),
}).strict();

const trainerSchema = z.object({
  type: z.literal("finetune").optional(),
  epochs: int(1).default(3),
  learning_rate: z.number().positive().max(1).default(2e-4),
  batch_size: int(1).default(16),
  gradient_accumulation: int(1).default(1),
  warmup_steps: int(0).default(0),
  weight_decay: z.number().min(0).default(0),
  max_grad_norm: z.number().min(0).default(1),
  max_length: int(2).default(512),
  validation_split: z.number().min(0).lt(1).default(0),
  seed: int(0).default(42),
  /** optimizer steps between checkpoints (0 = at each epoch's end only) */
  checkpoint_every: int(0).default(50),
  /** cap on the training rows used (after the validation split); smoke runs */
  max_examples: int(1).optional(),
}).strict();

export const trainConfigSchema = z.object({
  model_type: z.literal("llm").optional(),
  base_model: z.string().min(1),
  dataset: z.string().min(1),
  output_dir: z.string().min(1).default(".data/train/adapter"),
  prompt_template: z.string().min(1).superRefine((t, ctx) => {
    try {
      const fields = parseTemplate(t).filter((p) => p.kind === "field");
      if (fields.length === 0) ctx.addIssue({ code: "custom", message: "has no {column} placeholder" });
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  }),
  output_column: z.string().min(1).default("output"),
  adapter: adapterSchema.default(adapterSchema.parse({})),
  trainer: trainerSchema.default(trainerSchema.parse({})),
}).strict();

export type TrainConfig = z.infer<typeof trainConfigSchema>;

/** Flags of `npm run train` that override config keys. */
export interface ConfigOverrides {
  model?: string;
  data?: string;
  out?: string;
}

/** Parses YAML or JSON text (JSON is YAML) into a plain object. */
export function parseConfigText(text: string, where = "config"): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new TrainConfigError(`${where} is not valid YAML or JSON: ${(err as Error).message}`);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw new TrainConfigError(`${where} must be a mapping of keys (base_model, dataset, prompt_template, ...)`);
  return raw as Record<string, unknown>;
}

/** Validates a raw config (after overrides); paths resolved against `cwd`. */
export function validateConfig(raw: Record<string, unknown>, overrides: ConfigOverrides = {}, cwd = process.cwd()): TrainConfig {
  const merged: Record<string, unknown> = { ...raw };
  if (overrides.model !== undefined) merged.base_model = overrides.model;
  if (overrides.data !== undefined) merged.dataset = overrides.data;
  if (overrides.out !== undefined) merged.output_dir = overrides.out;
  const parsed = trainConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.length ? issue.path.join(".") : undefined;
    let message = issue.message;
    if (issue.code === "unrecognized_keys") {
      const where = issue.path.length ? `${issue.path.join(".")}.` : "";
      throw new TrainConfigError(`unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${where}${k}"`).join(", ")}`, `${where}${issue.keys[0]}`);
    }
    if (issue.code === "invalid_type" && issue.input === undefined) message = "is required";
    throw new TrainConfigError(message, field);
  }
  const cfg = parsed.data;
  if (cfg.output_column && cfg.prompt_template.includes(`{${cfg.output_column}}`)) {
    throw new TrainConfigError(`uses the output column "${cfg.output_column}" (the answer would be in the prompt)`, "prompt_template");
  }
  return {
    ...cfg,
    base_model: path.resolve(cwd, cfg.base_model),
    dataset: path.resolve(cwd, cfg.dataset),
    output_dir: path.resolve(cwd, cfg.output_dir),
  };
}

/** Reads a config file (YAML or JSON), applies the flags, validates. */
export function loadConfig(file: string, overrides: ConfigOverrides = {}, cwd = process.cwd()): TrainConfig {
  let text: string;
  try {
    text = readFileSync(path.resolve(cwd, file), "utf8");
  } catch (err) {
    throw new TrainConfigError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, "config");
  }
  return validateConfig(parseConfigText(text, file), overrides, cwd);
}

/** The seven projections (or the listed ones) a config adapts, in PROJECTIONS order. */
export function targetModules(cfg: TrainConfig): (typeof PROJECTIONS)[number][] {
  const t = cfg.adapter.target_modules;
  return t === "all-linear" ? [...PROJECTIONS] : PROJECTIONS.filter((p) => t.includes(p));
}
