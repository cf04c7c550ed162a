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

/** What became of one row. */
export type RowStatus = "ok" | "truncated" | "too_long" | "missing_column" | "empty_output";

export interface PreparedRow {
  status: RowStatus;
  /** the column that is missing (status missing_column) */
  missing?: string;
  /** the rendered prompt and the output text (when the columns are there) */
  prompt?: string;
  output?: string;
  promptTokens?: number;
  /** output tokens + `</s>` that remain after cutting */
  targetTokens?: number;
  example?: Example;
}

/** Renders, tokenizes and cuts one row (cols: the template's columns). */
export function prepareRow(row: Row, o: PrepareOptions, cols = templateColumns(o.template)): PreparedRow {
  const inputs: Record<string, string> = {};
  for (const c of cols) {
    const v = cell(row[c]);
    if (v === null) return { status: "missing_column", missing: c };
    inputs[c] = v;
  }
  const output = cell(row[o.outputColumn]);
  if (output === null) return { status: "missing_column", missing: o.outputColumn };
  const prompt = renderTemplate(o.template, inputs);
  if (output.trim() === "") return { status: "empty_output", prompt, output };
  const promptIds = o.tokenizer.encode(prompt);
  if (promptIds.length >= o.maxLength) return { status: "too_long", prompt, output, promptTokens: promptIds.length, targetTokens: 0 };
  let ids = [...promptIds, ...o.tokenizer.encode(output, { addSpecialTokens: false }), o.eosId];
  const cut = ids.length > o.maxLength;
  if (cut) ids = ids.slice(0, o.maxLength);
  return {
    status: cut ? "truncated" : "ok", prompt, output, promptTokens: promptIds.length, targetTokens: ids.length - promptIds.length,
    example: { ids: Int32Array.from(ids), promptLen: promptIds.length },
  };
}

/** Renders, tokenizes and cuts the rows; counts what it drops. */
export function prepareExamples(rows: Row[], invalidRows: number, o: PrepareOptions): { examples: Example[]; stats: DatasetStats } {
  const cols = templateColumns(o.template);
  const stats: DatasetStats = { rows: rows.length + invalidRows, usable: 0, missingColumn: {}, invalidRows, emptyOutput: 0, truncated: 0, tooLong: 0, tokens: 0, targetTokens: 0, maxTokens: 0 };
  const examples: Example[] = [];
  for (const row of rows) {
    const r = prepareRow(row, o, cols);
    if (r.status === "missing_column") stats.missingColumn[r.missing!] = (stats.missingColumn[r.missing!] ?? 0) + 1;
    else if (r.status === "empty_output") stats.emptyOutput++;
    else if (r.status === "too_long") stats.tooLong++;
    if (!r.example) continue;
    if (r.status === "truncated") stats.truncated++;
    const e = r.example;
    examples.push(e);
    stats.usable++;
    stats.tokens += e.ids.length;
    stats.targetTokens += e.ids.length - e.promptLen;
    stats.maxTokens = Math.max(stats.maxTokens, e.ids.length);
  }
  return { examples, stats };
}

/** The first `limit` rows as the /train page previews them: rendered prompt, token counts, status. */
export function previewRows(rows: Row[], o: PrepareOptions, limit = 5): (Omit<PreparedRow, "example"> & { index: number })[] {
  const cols = templateColumns(o.template);
  return rows.slice(0, limit).map((row, index) => {
    const { example: _example, ...rest } = prepareRow(row, o, cols);
    void _example;
    return { index, ...rest };
  });
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
