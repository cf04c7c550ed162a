/**
 * Structured output in the playground: for a task whose card expects JSON, a JSON schema derived
 * from the card's own output example (the JSON object its prompt template shows, e.g. the NER
 * card's `{"person": ["Anna Reed"], "organization": [...], "location": [...]}`), sent as
 * `params.response_format` so the worker constrains decoding to it. Schemas are checked with the
 * worker's own compiler (inference/engine/json-constraint.ts), so the page, the web server and
 * the worker accept the same subset and name the same path when they do not.
 */
import type { GenerationParams } from "../../db/schema/chats";
import { compileSchema, SchemaError } from "../../inference/engine/json-constraint";
import { outputKindOf } from "./output-format";
import { parseTemplate } from "./template";

export type JsonSchema = Record<string, unknown>;
export type ResponseFormat = NonNullable<GenerationParams["response_format"]>;

/** characters of a schema's JSON text (it is stored with every run and travels in links) */
export const MAX_SCHEMA_CHARS = 8_000;

/** The first JSON object (with at least one key) written in `text`, or null. */
export function firstJsonObject(text: string): Record<string, unknown> | null {
  for (let start = text.indexOf("{"); start >= 0; start = text.indexOf("{", start + 1)) {
    // the balanced end, outside strings
    let depth = 0;
    let inString = false;
    for (let i = start; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === "\\") i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === "{") depth++;
      else if (c === "}" && --depth === 0) {
        try {
          const v = JSON.parse(text.slice(start, i + 1)) as unknown;
          if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0) return v as Record<string, unknown>;
        } catch {
          // not JSON (e.g. Python's single quotes): try the next brace
        }
        break;
      }
    }
  }
  return null;
}

/**
 * A schema of the example's shape: every key required and no others, arrays of their items'
 * type. An empty array (the example's "no location": []) takes its siblings' item type, else any.
 */
export function schemaOfExample(v: unknown): JsonSchema {
  if (v === null) return { type: "null" };
  if (Array.isArray(v)) return v.length ? { type: "array", items: schemaOfExample(v[0]) } : { type: "array" };
  if (typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>);
    const props: Record<string, JsonSchema> = Object.fromEntries(entries.map(([k, x]) => [k, schemaOfExample(x)]));
    const items = Object.values(props).find((p) => p.type === "array" && p.items)?.items;
    if (items) for (const p of Object.values(props)) if (p.type === "array" && !p.items) p.items = items;
    return { type: "object", properties: props, required: entries.map(([k]) => k), additionalProperties: false };
  }
  if (typeof v === "number") return { type: Number.isInteger(v) ? "integer" : "number" };
  return { type: typeof v === "boolean" ? "boolean" : "string" };
}

/** The schema the card implies: its template's JSON example; any object when it shows none; null when the task's answer is not JSON. */
export function schemaFromCard(a: { expectedOutputFormat: string | null; metricName?: string | null; promptTemplate?: string | null } | null): JsonSchema | null {
  if (!a || outputKindOf(a) !== "json") return null;
  let literal = "";
  try {
    literal = parseTemplate(a.promptTemplate ?? "").map((p) => (p.kind === "text" ? p.text : `{${p.name}}`)).join("");
  } catch {
    // a malformed template shows no example
  }
  const example = firstJsonObject(literal);
  return example ? schemaOfExample(example) : { type: "object" };
}

/** A schema's problem as the worker would name it (`properties.person.pattern: keyword ...`), or null when it is usable. */
export function schemaProblem(schema: unknown): string | null {
  if (!schema || typeof schema !== "object" || Array.isArray(schema)) return "the schema must be a JSON object";
  if (JSON.stringify(schema).length > MAX_SCHEMA_CHARS) return `the schema is longer than ${MAX_SCHEMA_CHARS} characters`;
  try {
    compileSchema(schema);
    return null;
  } catch (e) {
    if (!(e instanceof SchemaError)) throw e;
    return e.path.length ? `${e.path.join(".")}: ${e.message}` : e.message;
  }
}

/** The schema typed in the playground's box, or what is wrong with it. */
export function parseSchemaText(text: string): { schema: JsonSchema; error: null } | { schema: null; error: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { schema: null, error: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  const problem = schemaProblem(v);
  return problem ? { schema: null, error: problem } : { schema: v as JsonSchema, error: null };
}
