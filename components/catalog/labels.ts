/**
 * How catalog figures are named and drawn. Shared by server and client components.
 */
import type { MetricSource, ModelLabel } from "@/db/schema/catalog";

export const MODEL_ORDER: ModelLabel[] = ["fine_tuned", "gpt_4", "gpt_35_turbo", "mistral_7b_instruct", "base"];

/** Display name of a model label; `base` names the adapter's own base model. */
export function modelName(label: ModelLabel, baseModel: string): string {
  switch (label) {
    case "fine_tuned":
      return "Fine-tuned";
    case "gpt_4":
      return "GPT-4";
    case "gpt_35_turbo":
      return "GPT-3.5-turbo";
    case "mistral_7b_instruct":
      return "Mistral-7B-Instruct";
    case "base":
      return `${baseModel} (base)`;
  }
}

/** Short name for tight spaces (compact charts, table headers). */
export const MODEL_SHORT: Record<ModelLabel, string> = {
  fine_tuned: "Fine-tuned",
  gpt_4: "GPT-4",
  gpt_35_turbo: "GPT-3.5",
  mistral_7b_instruct: "Mistral-Instruct",
  base: "Base",
};

/** CSS color per series (see --color-series-* in globals.css). */
export const MODEL_COLOR: Record<ModelLabel, string> = {
  fine_tuned: "var(--color-series-ft)",
  gpt_4: "var(--color-series-gpt4)",
  gpt_35_turbo: "var(--color-series-gpt35)",
  mistral_7b_instruct: "var(--color-series-instruct)",
  base: "var(--color-series-base)",
};

export const SOURCE_LABEL: Record<MetricSource, string> = {
  published: "Published by Predibase",
  measured: "Measured here",
};

/** One-line gloss for each metric name, as published or as this project's eval computes it. */
export const METRIC_GLOSS: Record<string, string> = {
  accuracy: "share of outputs equal to the reference label",
  rouge: "ROUGE overlap between the output and the reference text",
  label_and_explanation: "label match scored together with its explanation (authors' metric)",
  stsb: "agreement with the STS-B similarity label (authors' metric)",
  dbpedia: "DBpedia topic match (authors' metric)",
  humaneval: "HumanEval pass rate of the generated code (authors' metric)",
  exact_match: "share of outputs exactly equal to the reference",
  rouge_l: "ROUGE-L F1 over lowercased words",
  json_match: "output parses as JSON with the reference's entity lists",
};

export function formatScore(v: number | null | undefined): string {
  return v === null || v === undefined ? "—" : v.toFixed(2);
}

export function formatLift(v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  const s = v.toFixed(2);
  return v > 0 ? `+${s}` : s;
}

interface FigureLike {
  modelLabel: ModelLabel;
  source: MetricSource;
  value: number;
}

/** The figure of one model from one source, if any. */
export function figure(metrics: FigureLike[], label: ModelLabel, source: MetricSource): number | null {
  return metrics.find((m) => m.modelLabel === label && m.source === source)?.value ?? null;
}

/** The source to headline: published when there is a published figure, else measured, else null. */
export function primarySource(metrics: FigureLike[]): MetricSource | null {
  if (metrics.some((m) => m.source === "published")) return "published";
  if (metrics.some((m) => m.source === "measured")) return "measured";
  return null;
}
