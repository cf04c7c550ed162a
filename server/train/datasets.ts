/**
 * Datasets a web training run can use: the demo tasks' train splits (data/demo/tasks/<slug>/
 * train.jsonl.gz, one-click examples with their card's template and output column) and an owner's
 * uploads (CSV/JSONL, optionally gzipped, at most 50 MB, stored under DATA_DIR/train/datasets/<id>/).
 * The preview and the row accounting are inference/train/dataset.ts's, with the served model's
 * tokenizer; the web server asks for them through server/train/helper.ts, which runs them in a
 * helper process (tokenizing every row of a file takes seconds).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { TrainDatasetRef, TrainRowAccounting } from "../../db/schema/train";
import { describeDropped, prepareExamples, previewRows, readRows, TrainDataError, type Row } from "../../inference/train/dataset";
import { Tokenizer } from "../../inference/tokenizer/tokenizer";
import type { Db } from "../../db/client";
import { addTrainDataset, getTrainDataset, type TrainDatasetRow } from "../db-queries/train";
import { LoraLandError } from "../errors";
import { DEFAULT_TASKS_DIR, loadTaskCards, type TaskCard } from "../eval/tasks";
import { inspectOffLoop } from "./helper";
import type { DatasetInspection } from "./protocol";
import type { Viewer } from "./view";

/** Largest dataset file accepted (upload body and the file after gunzip). */
export const MAX_DATASET_BYTES = 50_000_000;
export const DATASET_FILE = /^[^/\\\0]{1,200}\.(csv|jsonl|json|ndjson)(\.gz)?$/i;

export interface DemoDataset {
  task: string;
  name: string;
  /** rows in the train split (the card's count) */
  rows: number | null;
  promptTemplate: string;
  inputColumns: string[];
  outputColumn: string;
  metric: string;
  /** it has a test split: a run on it is evaluated, with the base model beside it */
  hasTestSplit: boolean;
}

export function trainSplitFile(slug: string, tasksDir = DEFAULT_TASKS_DIR): string {
  return path.resolve(/*turbopackIgnore: true*/ tasksDir, slug, "train.jsonl.gz");
}

/** Demo tasks whose train split is present. */
export function demoDatasets(tasksDir = DEFAULT_TASKS_DIR): DemoDataset[] {
  return loadTaskCards(tasksDir)
    .filter((c) => fs.existsSync(trainSplitFile(c.slug, tasksDir)))
    .map((c) => ({
      task: c.slug,
      name: c.name,
      rows: c.train_examples ?? null,
      promptTemplate: c.prompt_template,
      inputColumns: c.input_columns,
      outputColumn: c.output_column,
      metric: c.metric,
      hasTestSplit: fs.existsSync(path.resolve(/*turbopackIgnore: true*/ tasksDir, c.slug, "test.jsonl")),
    }));
}

export function datasetsDir(dataDir: string): string {
  return path.join(/*turbopackIgnore: true*/ dataDir, "train", "datasets");
}

export interface ResolvedDataset {
  file: string;
  name: string;
  /** the demo task (its card evaluates the adapter); null for uploads */
  card: TaskCard | null;
}

/**
 * The file behind a dataset reference the caller may use: any demo task's train split, or an
 * upload of the caller's own (the admin: anyone's). Refusals name the field `dataset`.
 */
export async function resolveDataset(db: Db, ref: TrainDatasetRef, who: Viewer, opts: { dataDir: string; tasksDir?: string }): Promise<ResolvedDataset> {
  if (ref.kind === "demo") {
    const card = loadTaskCards(opts.tasksDir).find((c) => c.slug === ref.task);
    const file = card && trainSplitFile(card.slug, opts.tasksDir);
    if (!card || !file || !fs.existsSync(file)) throw new LoraLandError("NOT_FOUND", `dataset.task: no demo task "${ref.task}" with a train split`);
    return { file, name: `${card.name} (train split)`, card };
  }
  const row = await getTrainDataset(db, { id: ref.id });
  if (!row || (!who.admin && row.ownerId !== who.ownerId)) throw new LoraLandError("NOT_FOUND", `dataset.id: no uploaded dataset "${ref.id}" of yours`);
  return { file: path.join(datasetsDir(opts.dataDir), row.id, row.fileName), name: row.fileName, card: null };
}

// ── tokenizer and accounting ─────────────────────────────────────────────────────────────────
type G = typeof globalThis & { __loralandTrainTokenizers?: Map<string, Promise<Tokenizer>> };
const g = globalThis as G;

export function tokenizerFor(modelDir: string): Promise<Tokenizer> {
  const all = (g.__loralandTrainTokenizers ??= new Map());
  let t = all.get(modelDir);
  if (!t) {
    t = Tokenizer.load(modelDir);
    t.catch(() => all.delete(modelDir));
    all.set(modelDir, t);
  }
  return t;
}

/**
 * The tokenizer with the file's encodings remembered: another max_length (or a template that only
 * changes the prompt) re-counts the rows without tokenizing every output again. One file's texts
 * are kept (at most 4M token ids; then it starts over).
 */
const memo: { file: string; ids: Map<string, number[]>; size: number } = { file: "", ids: new Map(), size: 0 };
function memoTokenizer(t: Tokenizer, file: string): Tokenizer {
  if (memo.file !== file || memo.size > 4_000_000) Object.assign(memo, { file, ids: new Map(), size: 0 });
  const wrapped = Object.create(t) as Tokenizer;
  wrapped.encode = (text, opts = {}) => {
    const key = `${opts.addSpecialTokens === false ? 0 : 1}${text}`;
    let ids = memo.ids.get(key);
    if (!ids) {
      ids = t.encode(text, opts);
      memo.ids.set(key, ids);
      memo.size += ids.length;
    }
    return ids;
  };
  return wrapped;
}

export interface PreviewRow {
  index: number;
  status: "ok" | "truncated" | "too_long" | "missing_column" | "empty_output";
  missing?: string;
  prompt?: string;
  output?: string;
  promptTokens?: number;
  targetTokens?: number;
}

export interface DatasetPreview {
  rows: PreviewRow[];
  accounting: TrainRowAccounting;
  /** one line naming the dropped rows by reason ("" = none dropped) */
  dropped: string;
  /** why the dataset cannot train (no usable row); null when it can */
  problem: string | null;
  /** the columns seen in the first rows */
  columns: string[];
}

interface Parsed {
  rows: Row[];
  invalid: number;
  mtimeMs: number;
}
const parsedCache = new Map<string, Parsed>();
const accountingCache = new Map<string, TrainRowAccounting>();

/** Rows of a dataset file, parsed once per (file, mtime); the last few files are kept. */
export function datasetRows(file: string): Parsed {
  let mtimeMs = 0;
  try {
    mtimeMs = fs.statSync(file).mtimeMs;
  } catch {
    throw new TrainDataError(`${path.basename(file)}: the dataset file is missing`);
  }
  const hit = parsedCache.get(file);
  if (hit && hit.mtimeMs === mtimeMs) return hit;
  const { rows, invalid } = readRows(file, { maxBytes: MAX_DATASET_BYTES });
  const parsed = { rows, invalid, mtimeMs };
  if (parsedCache.size >= 4) parsedCache.delete(parsedCache.keys().next().value!);
  parsedCache.set(file, parsed);
  return parsed;
}

export function columnsOf(rows: Row[], limit = 200): string[] {
  const seen = new Set<string>();
  for (const r of rows.slice(0, limit)) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

export interface AccountingInput {
  file: string;
  modelDir: string;
  promptTemplate: string;
  outputColumn: string;
  maxLength: number;
}

/** The whole file's row accounting and the first `limit` rows rendered (throws TrainDataError on a bad file). */
export async function previewDataset(a: AccountingInput, limit = 5): Promise<DatasetPreview> {
  const tokenizer = await tokenizerFor(a.modelDir);
  const eosId = tokenizer.eosIds[0];
  if (eosId === undefined) throw new LoraLandError("PRECONDITION_FAILED", "the base model's tokenizer has no end-of-sequence token");
  const parsed = datasetRows(a.file);
  const o = { template: a.promptTemplate, outputColumn: a.outputColumn, maxLength: a.maxLength, tokenizer: memoTokenizer(tokenizer, a.file), eosId };
  const key = JSON.stringify([a.file, parsed.mtimeMs, a.modelDir, a.promptTemplate, a.outputColumn, a.maxLength]);
  let accounting = accountingCache.get(key);
  if (!accounting) {
    accounting = prepareExamples(parsed.rows, parsed.invalid, o).stats;
    if (accountingCache.size >= 64) accountingCache.delete(accountingCache.keys().next().value!);
    accountingCache.set(key, accounting);
  }
  const name = path.basename(a.file);
  const problem = accounting.usable > 0 ? null : accounting.rows === 0 ? `${name} has no rows` : `${name} has no usable row: of ${accounting.rows} rows, ${describeDropped(accounting)}`;
  return { rows: previewRows(parsed.rows, o, limit), accounting, dropped: describeDropped(accounting), problem, columns: columnsOf(parsed.rows) };
}

/** A refused upload: the HTTP status and a message naming the part. */
export class DatasetUploadError extends Error {
  constructor(
    readonly status: 400 | 413,
    message: string,
  ) {
    super(message);
    this.name = "DatasetUploadError";
  }
}

/**
 * Store an uploaded dataset file for `ownerId` under DATA_DIR/train/datasets/<id>/<name> after
 * parsing it once (rows, columns); nothing is left behind when it is refused.
 */
export async function storeDatasetUpload(db: Db, u: { ownerId: string; fileName: string; bytes: Uint8Array; dataDir: string }): Promise<Omit<TrainDatasetRow, "ownerId">> {
  const fileName = path.basename(u.fileName);
  if (!DATASET_FILE.test(fileName)) throw new DatasetUploadError(400, `file: "${fileName}" is not a .csv or .jsonl file (optionally .gz)`);
  if (u.bytes.byteLength > MAX_DATASET_BYTES) throw new DatasetUploadError(413, `file: ${u.bytes.byteLength} bytes; the limit is ${MAX_DATASET_BYTES} bytes`);
  const id = randomBytes(12).toString("hex");
  const dir = path.join(datasetsDir(u.dataDir), id);
  try {
    fs.mkdirSync(dir, { recursive: true });
    const target = path.join(dir, fileName);
    fs.writeFileSync(target, u.bytes);
    let parsed: DatasetInspection;
    try {
      // parsing a large file takes seconds: the helper process does it, off this server's loop
      parsed = await inspectOffLoop(target);
    } catch (err) {
      if (err instanceof TrainDataError) throw new DatasetUploadError(err.message.includes("over the") ? 413 : 400, `file: ${err.message}`);
      throw err;
    }
    if (parsed.rows === 0) throw new DatasetUploadError(400, parsed.invalid ? `file: none of the ${parsed.invalid} lines of ${fileName} is a JSON object` : `file: ${fileName} has no rows`);
    const row = await addTrainDataset(db, { id, ownerId: u.ownerId, fileName, bytes: u.bytes.byteLength, rows: parsed.rows + parsed.invalid, columns: parsed.columns });
    const { ownerId: _o, ...out } = row;
    void _o;
    return out;
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
