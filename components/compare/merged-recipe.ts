/**
 * A merged pane on /compare: LoRAX's `merged_adapters` (several adapters combined per request,
 * inference/adapters/merge.ts) and its one-line name. The name is what a merged pane stores as its
 * model (the generation row's adapter_id, the chat's settings, `?adapters=` links), so history,
 * share pages and links show the recipe and /compare can open it again:
 *
 *   merged:linear(ner*0.5+sql*0.5)
 *   merged:ties(ner*1+sql*0.5;density=0.5;sign=total)
 *
 * Adapter ids hold only letters, digits and `._-/`, so `*`, `+`, `;`, `(` and `)` separate
 * unambiguously, and there is no comma (links list panes with commas).
 */
import type { MergeStrategy } from "../../inference/adapters/merge";

export const MERGE_STRATEGIES = ["linear", "ties", "dare_linear", "dare_ties"] as const satisfies readonly MergeStrategy[];
// every strategy the worker knows is offered (a compile error when it learns one more)
const allStrategies: Record<MergeStrategy, true> = { linear: true, ties: true, dare_linear: true, dare_ties: true };
void allStrategies;

export type SignMethod = "total" | "frequency";

/** LoRAX's shape, as the worker takes it in `parameters.merged_adapters` */
export interface MergedAdapters {
  ids: string[];
  weights: number[];
  merge_strategy: MergeStrategy;
  /** ties / dare_*: the fraction of values kept, in (0, 1] */
  density?: number;
  /** ties / dare_ties */
  majority_sign_method?: SignMethod;
}

/** what the web allows in one merged pane (the worker takes up to 16 adapters) */
export const MERGE_LIMITS = { minAdapters: 2, maxAdapters: 4, maxAbsWeight: 100 };

export const usesDensity = (s: MergeStrategy) => s !== "linear";
export const usesSign = (s: MergeStrategy) => s === "ties" || s === "dare_ties";

const PREFIX = "merged:";

/** The recipe's one-line name (canonical: the same recipe always gives the same name). */
export function recipeLabel(m: MergedAdapters): string {
  const parts = m.ids.map((id, i) => `${id}*${m.weights[i] ?? 1}`).join("+");
  const extra = [
    usesDensity(m.merge_strategy) && m.density !== undefined ? `density=${m.density}` : null,
    usesSign(m.merge_strategy) ? `sign=${m.majority_sign_method ?? "total"}` : null,
  ].filter(Boolean);
  return `${PREFIX}${m.merge_strategy}(${[parts, ...extra].join(";")})`;
}

export const isRecipeLabel = (s: string | null | undefined): s is string => !!s && s.startsWith(PREFIX);

/** A name back to its recipe; null when it is not one (a plain adapter id). */
export function parseRecipe(label: string): MergedAdapters | null {
  const m = /^merged:([a-z_]+)\(([^()]*)\)$/.exec(label);
  if (!m || !(MERGE_STRATEGIES as readonly string[]).includes(m[1]!)) return null;
  const [parts = "", ...extra] = m[2]!.split(";");
  const ids: string[] = [];
  const weights: number[] = [];
  for (const p of parts.split("+")) {
    const star = p.lastIndexOf("*");
    const w = Number(p.slice(star + 1));
    if (star <= 0 || !Number.isFinite(w)) return null;
    ids.push(p.slice(0, star));
    weights.push(w);
  }
  const recipe: MergedAdapters = { ids, weights, merge_strategy: m[1] as MergeStrategy };
  for (const e of extra) {
    const [k, v] = e.split("=");
    if (k === "density" && Number.isFinite(Number(v))) recipe.density = Number(v);
    else if (k === "sign" && (v === "total" || v === "frequency")) recipe.majority_sign_method = v;
    else return null;
  }
  return recipe;
}

/** A new merged pane's recipe: the first two adapters given, equal weights. */
export function defaultRecipe(adapterIds: string[]): MergedAdapters {
  const ids = adapterIds.slice(0, 2);
  return { ids, weights: ids.map(() => 0.5), merge_strategy: "linear" };
}

/** The recipe after a strategy change: density (0.5) and sign (total) appear with the strategies that use them. */
export function withStrategy(m: MergedAdapters, s: MergeStrategy): MergedAdapters {
  return {
    ids: m.ids,
    weights: m.weights,
    merge_strategy: s,
    ...(usesDensity(s) ? { density: m.density ?? 0.5 } : {}),
    ...(usesSign(s) ? { majority_sign_method: m.majority_sign_method ?? "total" } : {}),
  };
}

/** A pane's model as generate.start takes it: a recipe's name becomes `{merged_adapters}`, anything else passes. */
export function paneModelOf(model: string | null): string | null | { merged_adapters: MergedAdapters } {
  const recipe = isRecipeLabel(model) ? parseRecipe(model) : null;
  return recipe ? { merged_adapters: recipe } : model;
}
