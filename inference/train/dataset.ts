/**
 * Training datasets: CSV (header row, RFC 4180 quoting) or JSONL, optionally gzipped (detected by
 * the gzip magic bytes). Each row becomes one example: the prompt template rendered with the
 * row's columns (data/demo's card rules, the eval harness's renderer), tokenized with `<s>`, then
 * the output column's tokens and `</s>`, cut at max_length; the loss is on the output tokens and
 * `</s>` only. Rows that cannot be used are counted by reason; none usable is refused.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { renderTemplate, templateColumns } from "../../components/playground/template";
import { EngineError } from "../errors";
import type { Tokenizer } from "../tokenizer/tokenizer";

export class TrainDataError extends EngineError {
  constructor(message: string, field = "dataset") {
    super("train_data_invalid", message, { status: 422, field });
    this.name = "TrainDataError";
  }
}

export type Row = Record<string, unknown>;

/** One training sequence: prompt ids (with `<s>`), output ids, `</s>`; cut at max_length. */
export interface Example {
  ids: Int32Array;
  /** tokens of the prompt; ids[promptLen..] are the targets (output + `</s>`) */
  promptLen: number;
}

export interface DatasetStats {
  /** rows in the file (lines of JSONL, records of CSV after the header) */
  rows: number;
  /** rows that became examples */
  usable: number;
  /** rows lacking a template column or the output column (null counts as missing), per column */
  missingColumn: Record<string, number>;
  /** JSONL lines that are not a JSON object */
  invalidRows: number;
  /** rows whose output is empty */
  emptyOutput: number;
  /** rows longer than max_length, cut to it (their output's tail is lost) */
  truncated: number;
  /** rows whose prompt alone fills max_length (no output token left): dropped */
  tooLong: number;
  /** tokens of the usable examples (prompt + output + `</s>`, after cutting) and their target tokens */
  tokens: number;
  targetTokens: number;
  maxTokens: number;
}

function parseCsv(text: string, where: string): Row[] {
  const records: string[][] = [];
  let field = "";
  let record: string[] = [];
  let inQuotes = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let sawAny = false;
  for (; i < text.length; i++) {
    const ch = text[i];
    sawAny = true;
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else field += ch;
    } else if (ch === '"' && field === "") inQuotes = true;
    else if (ch === ",") {
      record.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      sawAny = false;
    } else field += ch;
  }
  if (inQuotes) throw new TrainDataError(`${where}: a quoted CSV field is not closed`);
  if (sawAny || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  const nonEmpty = records.filter((r) => !(r.length === 1 && r[0] === ""));
  if (nonEmpty.length === 0) return [];
  const header = nonEmpty[0].map((h) => h.trim());
  return nonEmpty.slice(1).map((r) => {
    const row: Row = {};
    header.forEach((h, j) => {
      if (j < r.length) row[h] = r[j];
    });
    return row;
  });
}

/** Reads a dataset file's rows; `invalid` counts JSONL lines that are not objects. */
export function readRows(file: string, opts: { maxBytes?: number } = {}): { rows: Row[]; invalid: number } {
  const name = path.basename(file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new TrainDataError(`cannot read dataset ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new TrainDataError(`${name}: not a valid gzip file (${(err as Error).message})`);
    }
  }
  if (opts.maxBytes !== undefined && bytes.length > opts.maxBytes) {
    throw new TrainDataError(`${name}: ${(bytes.length / 1e6).toFixed(1)} MB is over the ${(opts.maxBytes / 1e6).toFixed(0)} MB limit`);
  }
  const text = bytes.toString("utf8");
  const base = name.replace(/\.gz$/i, "").toLowerCase();
  if (base.endsWith(".csv")) return { rows: parseCsv(text, name), invalid: 0 };
  if (!base.endsWith(".jsonl") && !base.endsWith(".json") && !base.endsWith(".ndjson")) {
    throw new TrainDataError(`${name}: unknown dataset format (use .csv or .jsonl, optionally .gz)`);
  }
  const rows: Row[] = [];
  let invalid = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (typeof v === "object" && v !== null && !Array.isArray(v)) rows.push(v as Row);
      else invalid++;
    } catch {
      invalid++;
    }
  }
  return { rows, invalid };
}

export interface PrepareOptions {
  template: string;
  outputColumn: string;
  maxLength: number;
  tokenizer: Tokenizer;
  /** id appended after the output (`</s>`) */
  eosId: number;
}

/** The columns a template needs, then the output column. */
export function requiredColumns(template: string, outputColumn: string): string[] {
  return [...new Set([...templateColumns(template), outputColumn])];
}

function cell(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
}

/** Renders, tokenizes and cuts the rows; counts what it drops. */
export function prepareExamples(rows: Row[], invalidRows: number, o: PrepareOptions): { examples: Example[]; stats: DatasetStats } {
  const cols = templateColumns(o.template);
  const stats: DatasetStats = { rows: rows.length + invalidRows, usable: 0, missingColumn: {}, invalidRows, emptyOutput: 0, truncated: 0, tooLong: 0, tokens: 0, targetTokens: 0, maxTokens: 0 };
  const examples: Example[] = [];
  for (const row of rows) {
    const inputs: Record<string, string> = {};
    let missing: string | null = null;
    for (const c of cols) {
      const v = cell(row[c]);
      if (v === null) {
        missing = c;
        break;
      }
      inputs[c] = v;
    }
    const output = cell(row[o.outputColumn]);
    if (missing === null && output === null) missing = o.outputColumn;
    if (missing !== null) {
      stats.missingColumn[missing] = (stats.missingColumn[missing] ?? 0) + 1;
      continue;
    }
    if (output!.trim() === "") {
      stats.emptyOutput++;
      continue;
    }
    const prompt = o.tokenizer.encode(renderTemplate(o.template, inputs));
    const out = o.tokenizer.encode(output!, { addSpecialTokens: false });
    if (prompt.length >= o.maxLength) {
      stats.tooLong++;
      continue;
    }
    let ids = [...prompt, ...out, o.eosId];
    if (ids.length > o.maxLength) {
      stats.truncated++;
      ids = ids.slice(0, o.maxLength);
    }
    examples.push({ ids: Int32Array.from(ids), promptLen: prompt.length });
    stats.usable++;
    stats.tokens += ids.length;
    stats.targetTokens += ids.length - prompt.length;
    stats.maxTokens = Math.max(stats.maxTokens, ids.length);
  }
  return { examples, stats };
}

/** A one-line account of the dropped rows, or "" when every row is usable. */
export function describeDropped(s: DatasetStats): string {
  const parts: string[] = [];
  for (const [c, n] of Object.entries(s.missingColumn)) parts.push(`${n} missing column "${c}"`);
  if (s.invalidRows) parts.push(`${s.invalidRows} not a JSON object`);
  if (s.emptyOutput) parts.push(`${s.emptyOutput} with an empty output`);
  if (s.tooLong) parts.push(`${s.tooLong} with a prompt of max_length tokens or more`);
  return parts.join(", ");
}

/** Refuses a dataset with no usable row, naming why the rows were dropped. */
export function assertUsable(s: DatasetStats, file: string): void {
  if (s.usable > 0) return;
  const name = path.basename(file);
  if (s.rows === 0) throw new TrainDataError(`${name} has no rows`);
  throw new TrainDataError(`${name} has no usable row: of ${s.rows} rows, ${describeDropped(s)}`);
}
