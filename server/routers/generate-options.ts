/**
 * The generate router's inputs for structured output (`params.response_format`) and merged panes
 * (`adapters[i] = {merged_adapters}`), checked as the worker checks them (its schema compiler,
 * its adapter-id bounds) so bad input is a 400 naming the field before any worker call.
 */
import { z } from "zod";
import { REQUEST_LIMITS as R } from "../../inference/request-limits";
import { MERGE_LIMITS as M, MERGE_STRATEGIES, recipeLabel, usesDensity, type MergedAdapters } from "../../components/compare/merged-recipe";
import { schemaProblem, type ResponseFormat } from "../../components/playground/structured-output";

/** LoRAX's `{"type": "json_object", "schema"?: …}`; the schema in the subset the worker compiles */
export const responseFormatSchema = z
  .object({
    type: z.literal("json_object", "response_format.type must be \"json_object\""),
    schema: z.record(z.string(), z.unknown(), "response_format.schema must be a JSON object").optional(),
  })
  .superRefine((f, ctx) => {
    const problem = f.schema === undefined ? null : schemaProblem(f.schema);
    if (problem) ctx.addIssue({ code: "custom", path: ["schema"], message: `response_format.schema: ${problem}` });
  }) satisfies z.ZodType<ResponseFormat>;

const adapterIdText = z
  .string()
  .min(1, "adapter id is empty")
  .max(R.adapterIdChars, `adapter id is longer than ${R.adapterIdChars} characters`)
  .regex(/^[A-Za-z0-9._\-/]+$/, "adapter id may only hold letters, digits, . _ - /");

export const mergedAdaptersSchema = z
  .object({
    ids: z.array(adapterIdText).min(M.minAdapters, `merged_adapters.ids: merge ${M.minAdapters} to ${M.maxAdapters} adapters`).max(M.maxAdapters, `merged_adapters.ids: merge ${M.minAdapters} to ${M.maxAdapters} adapters`),
    weights: z.array(
      z.number("a weight must be a number").min(-M.maxAbsWeight, `a weight must be ≥ -${M.maxAbsWeight}`).max(M.maxAbsWeight, `a weight must be ≤ ${M.maxAbsWeight}`),
    ),
    merge_strategy: z.enum(MERGE_STRATEGIES, `merged_adapters.merge_strategy must be one of ${MERGE_STRATEGIES.join(", ")}`),
    density: z.number().gt(0, "merged_adapters.density must be > 0").max(1, "merged_adapters.density must be ≤ 1").optional(),
    majority_sign_method: z.enum(["total", "frequency"], "merged_adapters.majority_sign_method must be total or frequency").optional(),
  })
  .superRefine((m, ctx) => {
    if (m.weights.length !== m.ids.length)
      ctx.addIssue({ code: "custom", path: ["weights"], message: `merged_adapters.weights: one per adapter (${m.ids.length} ids, ${m.weights.length} weights)` });
    if (new Set(m.ids).size !== m.ids.length) ctx.addIssue({ code: "custom", path: ["ids"], message: "merged_adapters.ids: an adapter is named twice" });
    // the worker's rule (LoRAX's default 0 would prune everything)
    if (usesDensity(m.merge_strategy) && m.density === undefined)
      ctx.addIssue({ code: "custom", path: ["density"], message: `merged_adapters.density: give it in (0, 1] for ${m.merge_strategy}` });
  }) satisfies z.ZodType<MergedAdapters>;

const mergedPane = z.object({ merged_adapters: mergedAdaptersSchema }).strict();
export type PaneModel = string | null | z.infer<typeof mergedPane>;

/**
 * One pane's model: an adapter id, null for the base model, or a merge of adapters. Dispatched on
 * the value's kind rather than a z.union, so a bad merge's issue names its field
 * (`adapters.1.merged_adapters.density`), not just the pane.
 */
export const paneModelSchema = z.custom<PaneModel>(() => true).transform((v, ctx): PaneModel => {
  const r = v !== null && typeof v === "object" ? mergedPane.safeParse(v) : adapterIdText.nullable().safeParse(v);
  if (r.success) return r.data;
  for (const i of r.error.issues) ctx.addIssue({ code: "custom", message: i.message, path: i.path as PropertyKey[] });
  return z.NEVER;
});

/** What a pane stores as its model and sends to the worker: a merge is stored under its recipe's name. */
export function paneTarget(m: PaneModel): { stored: string | null; adapterId: string | null; mergedAdapters?: MergedAdapters } {
  if (m === null || typeof m === "string") return { stored: m, adapterId: m };
  return { stored: recipeLabel(m.merged_adapters), adapterId: null, mergedAdapters: m.merged_adapters };
}
