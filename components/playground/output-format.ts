/**
 * What kind of answer a task expects, from its card (`expected_output_format`, the demo's
 * `json_match` metric), and the cheap checks that run without the highlighter: is it valid JSON.
 */

export type OutputKind = "json" | "sql" | "text";

/** The catalog row's output kind; null (no adapter known) and anything else is text (Markdown). */
export function outputKindOf(a: { expectedOutputFormat: string | null; metricName?: string | null } | null | undefined): OutputKind {
  const format = a?.expectedOutputFormat?.trim().toLowerCase();
  if (format === "json" || a?.metricName === "json_match") return "json";
  if (format === "sql") return "sql";
  return "text";
}

export type JsonCheck = { valid: true; value: unknown } | { valid: false; error: string };

/** Whether the whole answer (surrounding whitespace aside) is one JSON value, with the parser's reason when not. */
export function checkJson(text: string): JsonCheck {
  if (text.trim() === "") return { valid: false, error: "the answer is empty" };
  try {
    return { valid: true, value: JSON.parse(text) };
  } catch (e) {
    return { valid: false, error: e instanceof Error ? e.message : String(e) };
  }
}
