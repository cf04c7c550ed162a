/**
 * GET /metrics as JSON (`Accept: application/json` or `?format=json`): the Prometheus text
 * exposition turned into one object. A sample without labels is a number under its name; a name
 * with labelled samples holds `[{labels, value}]` (histograms: `_bucket` with `le`, `_sum`, `_count`).
 */
import type { IncomingMessage } from "node:http";

export type MetricsJson = Record<string, number | { labels: Record<string, string>; value: number }[]>;

const SAMPLE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g;

export function prometheusToJson(text: string): MetricsJson {
  const out: MetricsJson = {};
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const [, name, labelText, raw] = m;
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw);
    if (labelText === undefined || labelText === "") {
      out[name] = value;
      continue;
    }
    const labels: Record<string, string> = {};
    for (const l of labelText.matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
    const list = out[name];
    if (Array.isArray(list)) list.push({ labels, value });
    else out[name] = [{ labels, value }];
  }
  return out;
}

/** the client asked for JSON: `?format=json`, or an Accept header that prefers application/json */
export function wantsJson(req: IncomingMessage, url: URL): boolean {
  if (url.searchParams.get("format") === "json") return true;
  const accept = req.headers.accept ?? "";
  return /application\/json/i.test(accept) && !/text\/plain/i.test(accept.split(",")[0] ?? "");
}
