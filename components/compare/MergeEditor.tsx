"use client";
/**
 * A merged pane's header on /compare: the recipe's name (what the pane, history and links show)
 * and its editor: 2–4 adapters with weights, the strategy, and density / sign election for the
 * strategies that use them.
 */
import { MERGE_LIMITS, MERGE_STRATEGIES, recipeLabel, usesDensity, usesSign, withStrategy, type MergedAdapters, type SignMethod } from "./merged-recipe";
import type { MergeStrategy } from "../../inference/adapters/merge";

const STRATEGY_NAMES: Record<MergeStrategy, string> = { linear: "linear", ties: "TIES", dare_linear: "DARE linear", dare_ties: "DARE TIES" };
const field = "rounded border border-slate-300 bg-white px-1 py-0.5 text-xs dark:border-slate-700 dark:bg-slate-900";

export function MergeEditor(props: {
  recipe: MergedAdapters;
  /** the adapters that can be merged: worker ids and display names */
  choices: { id: string; name: string }[];
  disabled?: boolean;
  onChange: (m: MergedAdapters) => void;
}) {
  const { recipe: m, choices, disabled, onChange } = props;
  const setPart = (k: number, id: string, w: number) =>
    onChange({ ...m, ids: m.ids.map((x, j) => (j === k ? id : x)), weights: m.weights.map((x, j) => (j === k ? w : x)) });
  const unused = choices.find((c) => !m.ids.includes(c.id));
  return (
    <div className="flex min-w-0 flex-1 flex-col gap-1 text-xs" data-testid="merge-editor">
      <span className="break-all font-mono text-slate-700 dark:text-slate-200" data-testid="merged-label" title="Merged adapters (LoRAX merged_adapters)">
        {recipeLabel(m)}
      </span>
      <details className="min-w-0">
        <summary className="cursor-pointer text-slate-500" data-testid="merge-recipe-toggle">
          Recipe
        </summary>
        <fieldset disabled={disabled} className="mt-1 flex min-w-0 flex-col gap-1" aria-label="Merge recipe">
          {m.ids.map((id, k) => (
            <div key={k} className="flex min-w-0 items-center gap-1">
              <select aria-label={`Adapter ${k + 1}`} data-testid={`merge-id-${k}`} value={id} onChange={(e) => setPart(k, e.target.value, m.weights[k] ?? 1)} className={`${field} min-w-0 flex-1`}>
                {!choices.some((c) => c.id === id) && <option value={id}>{id}</option>}
                {choices.map((c) => (
                  <option key={c.id} value={c.id} disabled={c.id !== id && m.ids.includes(c.id)}>
                    {c.name}
                  </option>
                ))}
              </select>
              <input
                type="number"
                aria-label={`Weight ${k + 1}`}
                data-testid={`merge-weight-${k}`}
                step={0.1}
                min={-MERGE_LIMITS.maxAbsWeight}
                max={MERGE_LIMITS.maxAbsWeight}
                value={m.weights[k] ?? 1}
                onChange={(e) => e.target.value !== "" && Number.isFinite(Number(e.target.value)) && setPart(k, id, Number(e.target.value))}
                className={`${field} w-16`}
              />
              {m.ids.length > MERGE_LIMITS.minAdapters && (
                <button type="button" aria-label={`Remove adapter ${k + 1}`} onClick={() => onChange({ ...m, ids: m.ids.filter((_, j) => j !== k), weights: m.weights.filter((_, j) => j !== k) })} className="px-1 text-slate-500 hover:text-red-600">
                  ✕
                </button>
              )}
            </div>
          ))}
          {m.ids.length < MERGE_LIMITS.maxAdapters && unused && (
            <button type="button" data-testid="merge-add-adapter" onClick={() => onChange({ ...m, ids: [...m.ids, unused.id], weights: [...m.weights, 0.5] })} className="self-start underline">
              + adapter
            </button>
          )}
          <div className="flex flex-wrap items-center gap-2">
            <label className="flex items-center gap-1">
              strategy
              <select data-testid="merge-strategy" value={m.merge_strategy} onChange={(e) => onChange(withStrategy(m, e.target.value as MergeStrategy))} className={field}>
                {MERGE_STRATEGIES.map((s) => (
                  <option key={s} value={s}>
                    {STRATEGY_NAMES[s]}
                  </option>
                ))}
              </select>
            </label>
            {usesDensity(m.merge_strategy) && (
              <label className="flex items-center gap-1">
                density
                <input
                  type="number"
                  data-testid="merge-density"
                  step={0.05}
                  min={0.05}
                  max={1}
                  value={m.density ?? 0.5}
                  onChange={(e) => {
                    const d = Number(e.target.value);
                    if (e.target.value !== "" && d > 0 && d <= 1) onChange({ ...m, density: d });
                  }}
                  className={`${field} w-16`}
                />
              </label>
            )}
            {usesSign(m.merge_strategy) && (
              <label className="flex items-center gap-1">
                sign
                <select data-testid="merge-sign" value={m.majority_sign_method ?? "total"} onChange={(e) => onChange({ ...m, majority_sign_method: e.target.value as SignMethod })} className={field}>
                  <option value="total">total</option>
                  <option value="frequency">frequency</option>
                </select>
              </label>
            )}
          </div>
        </fieldset>
      </details>
    </div>
  );
}
