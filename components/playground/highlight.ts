/**
 * Pretty-printing and highlighting of JSON and SQL answers. Loaded on demand (a dynamic import
 * from StreamView) when such an answer is finished, so pages without one never load it:
 * highlight.js core with only its json and sql languages; sql-formatter (the bigger part: its
 * bundle carries every dialect) is loaded only for SQL answers.
 * highlight.js escapes the text it is given; its HTML holds only `<span class="hljs-…">`.
 */
import hljs from "highlight.js/lib/core";
import json from "highlight.js/lib/languages/json";
import sqlLanguage from "highlight.js/lib/languages/sql";
import { checkJson, type OutputKind } from "./output-format";

hljs.registerLanguage("json", json);
hljs.registerLanguage("sql", sqlLanguage);

type CodeKind = Exclude<OutputKind, "text">;

export interface Highlighted {
  /** the text as shown: pretty-printed when it parsed, else the answer itself */
  pretty: string;
  /** highlight.js HTML of `pretty` (escaped) */
  html: string;
}

export async function prettyPrint(kind: CodeKind, text: string): Promise<string> {
  if (kind === "json") {
    const c = checkJson(text);
    return c.valid ? JSON.stringify(c.value, null, 2) : text;
  }
  const { formatDialect, sql } = await import("sql-formatter");
  try {
    return formatDialect(text.trim(), { dialect: sql, tabWidth: 2 });
  } catch {
    return text; // not SQL this formatter can parse (a wrong answer is still shown as it came)
  }
}

export async function highlight(kind: CodeKind, text: string): Promise<Highlighted> {
  const pretty = await prettyPrint(kind, text);
  return { pretty, html: hljs.highlight(pretty, { language: kind, ignoreIllegals: true }).value };
}
