/**
 * The /train form's config in LoRA Land's (Ludwig's) shape, as the inputs hold it (numbers as
 * the text typed), and its conversion to the config the server validates. The client only checks
 * that a number is a number (naming the field); ranges and every other rule are the server's
 * (inference/train/config.ts), whose refusals name the field the same way (`trainer.epochs: ...`).
 */
import { PROJECTIONS, type Projection } from "@/inference/adapters/lora-weights";

export { PROJECTIONS };

export const ADAPTER_FIELDS = ["r", "alpha", "dropout"] as const;
export const TRAINER_FIELDS = [
  "epochs",
  "learning_rate",
  "batch_size",
  "gradient_accumulation",
  "warmup_steps",
  "weight_decay",
  "max_length",
  "validation_split",
  "seed",
] as const;
export type AdapterField = (typeof ADAPTER_FIELDS)[number];
export type TrainerField = (typeof TRAINER_FIELDS)[number] | "max_examples";

/** What the form edits: every number as typed. `max_examples` "" = every row. */
export interface ConfigDraft {
  prompt_template: string;
  output_column: string;
  adapter: Record<AdapterField, string> & { target_modules: Projection[] };
  trainer: Record<TrainerField, string>;
}

/** The config sent to the server (Ludwig keys; `base_model` and `dataset` are the server's). */
export interface ConfigValue {
  prompt_template: string;
  output_column: string;
  adapter: { r: number; alpha: number; dropout: number; target_modules: Projection[] | "all-linear" };
  trainer: {
    epochs: number;
    learning_rate: number;
    batch_size: number;
    gradient_accumulation: number;
    warmup_steps: number;
    weight_decay: number;
    max_length: number;
    validation_split: number;
    seed: number;
    max_examples?: number;
  };
}

/** A refusal tied to a form field, by its config path (`trainer.epochs`, `prompt_template`, `dataset`). */
export interface FieldError {
  field: string | null;
  message: string;
}

/** One-line help per field, shown under the inputs. */
export const HELP: Record<string, string> = {
  prompt_template: "{column} is replaced by the row's value; {{ and }} are literal braces.",
  output_column: "The answer the adapter learns to write.",
  "adapter.r": "LoRA rank: the size of the A/B matrices.",
  "adapter.alpha": "Scale: the update is multiplied by alpha / r.",
  "adapter.dropout": "Dropout on the LoRA input while training.",
  "adapter.target_modules": "The projections that get an adapter.",
  "trainer.epochs": "Passes over the training rows.",
  "trainer.learning_rate": "AdamW's peak rate (cosine to zero after warmup).",
  "trainer.batch_size": "Rows per micro-batch.",
  "trainer.gradient_accumulation": "Micro-batches per optimizer step.",
  "trainer.warmup_steps": "Steps of linear warmup.",
  "trainer.weight_decay": "AdamW's decoupled weight decay.",
  "trainer.max_length": "Tokens per row (prompt + answer); longer rows are cut.",
  "trainer.validation_split": "Share of rows held out for validation loss (0 = none).",
  "trainer.seed": "The same seed and config give the same adapter.",
  "trainer.max_examples": "Use only the first N training rows (empty = all).",
};

export const LABEL: Record<string, string> = {
  "adapter.r": "r",
  "adapter.alpha": "alpha",
  "adapter.dropout": "dropout",
  "trainer.epochs": "epochs",
  "trainer.learning_rate": "learning_rate",
  "trainer.batch_size": "batch_size",
  "trainer.gradient_accumulation": "gradient_accumulation",
  "trainer.warmup_steps": "warmup_steps",
  "trainer.weight_decay": "weight_decay",
  "trainer.max_length": "max_length",
  "trainer.validation_split": "validation_split",
  "trainer.seed": "seed",
  "trainer.max_examples": "max_examples",
};

const INTEGER = new Set(["adapter.r", "trainer.epochs", "trainer.batch_size", "trainer.gradient_accumulation", "trainer.warmup_steps", "trainer.max_length", "trainer.seed", "trainer.max_examples"]);

/** A draft from a config as the server gives it (a recipe's defaults, a past run's config). */
export function draftFrom(c: {
  prompt_template: string;
  output_column: string;
  adapter: { r: number; alpha: number; dropout: number; target_modules: readonly string[] | "all-linear" };
  trainer: Partial<Record<TrainerField, number | undefined>> & Record<(typeof TRAINER_FIELDS)[number], number>;
}): ConfigDraft {
  const tm = c.adapter.target_modules;
  return {
    prompt_template: c.prompt_template,
    output_column: c.output_column,
    adapter: {
      r: String(c.adapter.r),
      alpha: String(c.adapter.alpha),
      dropout: String(c.adapter.dropout),
      target_modules: tm === "all-linear" ? [...PROJECTIONS] : PROJECTIONS.filter((p) => tm.includes(p)),
    },
    trainer: {
      ...(Object.fromEntries(TRAINER_FIELDS.map((k) => [k, String(c.trainer[k])])) as Record<(typeof TRAINER_FIELDS)[number], string>),
      max_examples: c.trainer.max_examples === undefined ? "" : String(c.trainer.max_examples),
    },
  };
}

function num(field: string, text: string): number {
  const t = text.trim();
  const v = Number(t);
  if (t === "" || !Number.isFinite(v)) throw { field, message: `${field}: must be a number` } satisfies FieldError;
  if (INTEGER.has(field) && !Number.isInteger(v)) throw { field, message: `${field}: must be a whole number` } satisfies FieldError;
  return v;
}

/** The draft as the config to send, or the first field that is not a number. */
export function toConfig(d: ConfigDraft): { ok: true; config: ConfigValue } | { ok: false; error: FieldError } {
  try {
    if (d.adapter.target_modules.length === 0) throw { field: "adapter.target_modules", message: "adapter.target_modules: choose at least one projection" } satisfies FieldError;
    const trainer = Object.fromEntries(TRAINER_FIELDS.map((k) => [k, num(`trainer.${k}`, d.trainer[k])])) as ConfigValue["trainer"];
    if (d.trainer.max_examples.trim() !== "") trainer.max_examples = num("trainer.max_examples", d.trainer.max_examples);
    return {
      ok: true,
      config: {
        prompt_template: d.prompt_template,
        output_column: d.output_column.trim(),
        adapter: {
          r: num("adapter.r", d.adapter.r),
          alpha: num("adapter.alpha", d.adapter.alpha),
          dropout: num("adapter.dropout", d.adapter.dropout),
          target_modules: PROJECTIONS.filter((p) => d.adapter.target_modules.includes(p)),
        },
        trainer,
      },
    };
  } catch (e) {
    return { ok: false, error: e as FieldError };
  }
}

/** train.preview's input names → the config keys the form shows */
const PREVIEW_NAMES: Record<string, string> = { promptTemplate: "prompt_template", outputColumn: "output_column", maxLength: "trainer.max_length" };

const FIELD_PREFIX = /^((?:adapter|trainer)\.[a-z_]+|prompt_template|output_column|dataset(?:\.[a-z]+)?|name|base_model)\b/;

/**
 * The field a server refusal is about: the tRPC error's zod path when the input's shape was
 * refused, else the `field: message` prefix every training refusal carries.
 */
export function fieldOfError(err: { message: string; data?: unknown } | null | undefined): FieldError | null {
  if (!err) return null;
  const data = err.data as { zodError?: { fieldErrors?: Record<string, string[] | undefined> } | null; field?: string } | undefined;
  // start's refusals say `config.trainer.epochs: ...`; the form labels fields without `config.`
  let message = err.message.replace(/^config\./, "");
  for (const [from, to] of Object.entries(PREVIEW_NAMES)) if (message.startsWith(`${from}:`)) message = to + message.slice(from.length);
  if (typeof data?.field === "string") return { field: data.field.replace(/^config\./, ""), message };
  const zodFields = Object.entries(data?.zodError?.fieldErrors ?? {}).find(([, v]) => v && v.length > 0);
  if (zodFields) {
    const field = PREVIEW_NAMES[zodFields[0]] ?? zodFields[0].replace(/^config\./, "");
    return { field, message: `${field}: ${zodFields[1]![0]}` };
  }
  const m = FIELD_PREFIX.exec(message);
  return { field: m ? m[1]! : null, message };
}
