/**
 * Pretty-printing and highlighting of JSON and SQL answers. Loaded on demand (a dynamic import
 * from StreamView) when such an answer is finished, so pages without one never load it:
 * highlight.js core with only its json and sql languages, sql-formatter with only standard SQL.
 * highlight.js escapes the text it is given; its HTML holds only `<span class="hljs-…">`.
 */
import hljs from "highlight.js/lib/core";
import json from "highlight.js/lib/languages/json";
import sqlLanguage from "highlight.js/lib/languages/sql";
import { formatDialect, sql as sqlDialect } from "sql-formatter";
import { checkJson, type OutputKind } from "./output-format";

hljs.registerLanguage("json", json);
hljs.registerLanguage("sql", sqlLanguage);

export interface Highlighted {
  /** the text as shown: pretty-printed when it parsed, else the answer itself */
  pretty: string;
  /** highlight.js HTML of `pretty` (escaped) */
  html: string;
}

export function prettyPrint(kind: Exclude<OutputKind, "text">, text: string): string {
  if (kind === "json") {
    const c = checkJson(text);
    return c.valid ? JSON.stringify(c.value, null, 2) : text;
  }
  try {
    return formatDialect(text.trim(), { dialect: sqlDialect, tabWidth: 2 });
  } catch {
    return text; // not SQL this formatter can parse (a wrong answer is still shown as it came)
  }
}

export function highlight(kind: Exclude<OutputKind, "text">, text: string): Highlighted {
  const pretty = prettyPrint(kind, text);
  return { pretty, html: hljs.highlight(pretty, { language: kind, ignoreIllegals: true }).value };
}
