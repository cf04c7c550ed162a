/**
 * "Copy link": the page's setup in its query string, so a link opens pre-filled.
 * `?adapter=spam` (playground) or `?adapters=spam,base` (compare), `mode`, `in.<column>=…` for
 * template inputs, `prompt=…` (raw/chat), `p.<param>=…` (`p.stop` a JSON array; `p.schema` the structured-output JSON schema,
 * its presence turns structured output on), and `autorun=1` to run on open. A merged compare pane
 * is listed by its recipe's name (components/compare/merged-recipe.ts).
 */
import type { GenerationParams, PromptMode } from "../../db/schema/chats";

export const BASE = "base";

export interface PageSetup {
  /** catalog slugs, "base" for the base model */
  models: string[];
  mode: PromptMode | null;
  inputs: Record<string, string>;
  prompt: string | null;
  params: Partial<GenerationParams>;
  autorun: boolean;
}

type Query = Record<string, string | string[] | undefined>;

const NUMERIC: (keyof GenerationParams)[] = ["temperature", "top_p", "top_k", "max_new_tokens", "repetition_penalty", "seed"];

/** `p.stop`: a JSON array of strings (as setupQuery writes it), or one plain stop sequence */
function parseStop(value: string): string[] {
  try {
    const v = JSON.parse(value) as unknown;
    if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string" && x !== "").slice(0, 16);
  } catch {
    // a plain string
  }
  return value ? [value] : [];
}

/** `p.schema`: a JSON object (the page checks it as it checks a typed one); anything else is dropped */
function parseSchemaParam(value: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(value) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function parseSetup(q: Query): PageSetup {
  const one = (k: string) => {
    const v = q[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const list = (one("adapters") ?? one("adapter") ?? "").split(",").map((s) => s.trim()).filter(Boolean).slice(0, 6);
  const inputs: Record<string, string> = {};
  const params: Partial<GenerationParams> = {};
  for (const [k, v] of Object.entries(q)) {
    const value = Array.isArray(v) ? v[0] : v;
    if (value === undefined) continue;
    if (k.startsWith("in.")) inputs[k.slice(3)] = value;
    if (k.startsWith("p.")) {
      const name = k.slice(2) as keyof GenerationParams;
      if (NUMERIC.includes(name) && value !== "" && Number.isFinite(Number(value))) (params as Record<string, number>)[name] = Number(value);
      if (name === "stop") params.stop = parseStop(value);
      if (name === "ignore_eos") params.ignore_eos = value === "1";
      if ((name as string) === "schema") {
        const schema = parseSchemaParam(value);
        if (schema) params.response_format = { type: "json_object", schema };
      }
    }
  }
  const mode = one("mode");
  return {
    models: list,
    mode: mode === "template" || mode === "raw" || mode === "chat" ? mode : null,
    inputs,
    prompt: one("prompt") ?? null,
    params,
    autorun: one("autorun") === "1",
  };
}

export function setupQuery(s: { models: string[]; mode: PromptMode; inputs?: Record<string, string>; prompt?: string; params: GenerationParams; autorun?: boolean }, compare: boolean): string {
  const q = new URLSearchParams();
  q.set(compare ? "adapters" : "adapter", s.models.join(","));
  q.set("mode", s.mode);
  if (s.mode === "template") for (const [k, v] of Object.entries(s.inputs ?? {})) q.set(`in.${k}`, v);
  else if (s.prompt) q.set("prompt", s.prompt);
  for (const k of NUMERIC) {
    const v = s.params[k];
    if (v !== undefined && v !== null) q.set(`p.${k}`, String(v));
  }
  // JSON: a stop sequence may itself hold newlines
  if (s.params.stop?.length) q.set("p.stop", JSON.stringify(s.params.stop));
  if (s.params.ignore_eos) q.set("p.ignore_eos", "1");
  // json_object without a schema is the same as the schema of any object
  if (s.params.response_format) q.set("p.schema", JSON.stringify(s.params.response_format.schema ?? { type: "object" }));
  if (s.autorun) q.set("autorun", "1");
  return q.toString();
}
