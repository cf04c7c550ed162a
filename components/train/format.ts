/** Small formatters shared by the /train components (and the catalog's "trained here"). */
import type { TrainRunConfig } from "@/db/schema/train";

/** 75 → "1 min 15 s", 3700 → "1 h 2 min", 9 → "9 s". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function loss(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(3);
}

export function rate(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(1);
}

export function when(d: Date | string | null | undefined): string {
  if (!d) return "–";
  const date = typeof d === "string" ? new Date(d) : d;
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

export const STATUS_TEXT: Record<string, string> = {
  queued: "queued",
  running: "training",
  done: "done",
  failed: "failed",
  cancelled: "cancelled",
};

export const STATUS_STYLE: Record<string, string> = {
  queued: "bg-slate-100 text-slate-700 ring-slate-200 dark:bg-slate-800 dark:text-slate-200 dark:ring-slate-700",
  running: "bg-brand-50 text-brand-700 ring-brand-100 dark:bg-slate-800 dark:text-brand-100 dark:ring-slate-700",
  done: "bg-emerald-50 text-emerald-800 ring-emerald-200 dark:bg-emerald-950 dark:text-emerald-200 dark:ring-emerald-800",
  failed: "bg-rose-50 text-rose-800 ring-rose-200 dark:bg-rose-950 dark:text-rose-200 dark:ring-rose-800",
  cancelled: "bg-amber-50 text-amber-900 ring-amber-200 dark:bg-amber-950 dark:text-amber-200 dark:ring-amber-800",
};

/** The config as YAML, the way `npm run train` reads it. */
export function configYaml(c: TrainRunConfig): string {
  const tm = Array.isArray(c.adapter.target_modules) ? `[${c.adapter.target_modules.join(", ")}]` : c.adapter.target_modules;
  const t = c.trainer as Record<string, number | undefined>;
  // a fixed order (Postgres' jsonb hands keys back reordered): the form's, then the rest
  const order = ["epochs", "learning_rate", "batch_size", "gradient_accumulation", "warmup_steps", "weight_decay", "max_length", "validation_split", "seed", "max_examples", "max_grad_norm", "checkpoint_every"];
  const keys = [...order.filter((k) => k in t), ...Object.keys(t).filter((k) => !order.includes(k))];
  return [
    `prompt_template: ${JSON.stringify(c.prompt_template)}`,
    `output_column: ${c.output_column}`,
    "adapter:",
    `  r: ${c.adapter.r}`,
    `  alpha: ${c.adapter.alpha}`,
    `  dropout: ${c.adapter.dropout}`,
    `  target_modules: ${tm}`,
    "trainer:",
    ...keys.filter((k) => t[k] !== undefined).map((k) => `  ${k}: ${t[k]}`),
  ].join("\n");
}
