/**
 * The scoring rules of the mini LoRA Land demo (data/demo/README.md, "How an adapter is scored"),
 * the same as LoRA Land's harness: every score is 0 or 1 per example except ROUGE-L, and a task's
 * score is the mean over its test split.
 */

export type MetricName = "accuracy" | "exact_match" | "rouge_l" | "json_match";
export const METRICS: readonly MetricName[] = ["accuracy", "exact_match", "rouge_l", "json_match"];

export function isMetricName(name: string): name is MetricName {
  return (METRICS as readonly string[]).includes(name);
}

/** Greedy decoding budget per metric: long enough for every reference of that kind. */
export const MAX_NEW_TOKENS: Record<MetricName, number> = {
  accuracy: 4,
  exact_match: 40,
  rouge_l: 48,
  json_match: 80,
};

/** `accuracy` and `exact_match`: the stripped prediction equals the stripped reference. */
export function exactMatch(prediction: string, reference: string): number {
  return prediction.trim() === reference.trim() ? 1 : 0;
}

/** Length of the longest common subsequence of two token lists (O(n·m) time, O(m) memory). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  let prev = new Array<number>(b.length + 1).fill(0);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length]!;
}

function words(text: string): string[] {
  return text.toLowerCase().split(/\s+/).filter((w) => w.length > 0);
}

/** ROUGE-L F1 over lowercased whitespace tokens; 0 when either side is empty. */
export function rougeL(prediction: string, reference: string): number {
  const p = words(prediction);
  const r = words(reference);
  const lcs = lcsLength(p, r);
  if (lcs === 0) return 0;
  const precision = lcs / p.length;
  const recall = lcs / r.length;
  return (2 * precision * recall) / (precision + recall);
}

function parseObject(text: string): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** A list compared without order: its elements as canonical JSON, sorted. Not a list → null. */
function sortedList(value: unknown): string[] | null {
  if (!Array.isArray(value)) return null;
  return value.map((v) => JSON.stringify(v)).sort();
}

/**
 * `json_match`: 1 when the prediction parses as a JSON object with no keys beyond the reference's
 * and, for every key of the reference, the same list once both are sorted (a missing key counts as
 * an empty list); else 0.
 */
export function jsonMatch(prediction: string, reference: string): number {
  const pred = parseObject(prediction.trim());
  const ref = parseObject(reference.trim());
  if (!pred || !ref) return 0;
  for (const key of Object.keys(pred)) if (!Object.hasOwn(ref, key)) return 0;
  for (const key of Object.keys(ref)) {
    const want = sortedList(ref[key]);
    const got = sortedList(Object.hasOwn(pred, key) ? pred[key] : []);
    if (!want || !got || want.length !== got.length || want.some((w, i) => w !== got[i])) return 0;
  }
  return 1;
}

/** One example's score in [0, 1]. */
export function score(metric: MetricName, prediction: string, reference: string): number {
  switch (metric) {
    case "accuracy":
    case "exact_match":
      return exactMatch(prediction, reference);
    case "rouge_l":
      return rougeL(prediction, reference);
    case "json_match":
      return jsonMatch(prediction, reference);
  }
}

/** Mean of per-example scores (0 for an empty list). */
export function mean(scores: readonly number[]): number {
  return scores.length ? scores.reduce((a, b) => a + b, 0) / scores.length : 0;
}
