/**
 * Prompt templates as LoRA Land wrote them: Python `str.format` rules. `{column}` is replaced by
 * the input, `{{` and `}}` are literal braces; anything else with a brace is an error, as in Python.
 */

export type TemplatePart = { kind: "text"; text: string } | { kind: "field"; name: string };

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let text = "";
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === "{") {
      if (template[i + 1] === "{") {
        text += "{";
        i++;
        continue;
      }
      const close = template.indexOf("}", i + 1);
      if (close < 0) throw new TemplateError(`unmatched "{" at position ${i}`);
      const name = template.slice(i + 1, close);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TemplateError(`"{${name}}" at position ${i} is not a column name`);
      if (text) parts.push({ kind: "text", text });
      text = "";
      parts.push({ kind: "field", name });
      i = close;
    } else if (c === "}") {
      if (template[i + 1] !== "}") throw new TemplateError(`single "}" at position ${i}`);
      text += "}";
      i++;
    } else text += c;
  }
  if (text) parts.push({ kind: "text", text });
  return parts;
}

/** Column names in order of first appearance. */
export function templateColumns(template: string): string[] {
  return [...new Set(parseTemplate(template).flatMap((p) => (p.kind === "field" ? [p.name] : [])))];
}

/** `template.format(**inputs)`; a missing input is an error naming it. */
export function renderTemplate(template: string, inputs: Record<string, string>): string {
  return parseTemplate(template)
    .map((p) => {
      if (p.kind === "text") return p.text;
      const v = inputs[p.name];
      if (v === undefined) throw new TemplateError(`missing input "${p.name}"`);
      return v;
    })
    .join("");
}
