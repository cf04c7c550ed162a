/**
 * One forward pass over whole prompts, each in its own contiguous run of KV blocks: what the
 * `logits` CLI and the golden tests use (the scheduler builds its own batches in engine/).
 */
import type { LoraWeights } from "../adapters/lora-weights";
import type { ForwardBatch } from "./batch";
import { KvCache } from "./kv-cache";
import type { Model } from "./model";

export interface PromptRow {
  ids: number[];
  adapter: LoraWeights | null;
}

/** Runs every prompt in ONE forward pass; returns each row's last-position logits, in input order. */
export function promptLogits(model: Model, rows: PromptRow[], blockSize = 16): Float32Array[] {
  if (rows.length === 0) return [];
  const { batch, order, numBlocks } = promptBatch(rows, blockSize);
  const kv = new KvCache(model.config, numBlocks, blockSize);
  return splitRows(model.forward(batch, kv), order, model.config.vocabSize);
}

/** `promptLogits` on any backend (a device backend reads the logits back asynchronously); the KV pool is released after. */
export async function promptLogitsAsync<F, I, W>(model: Model<F, I, W>, rows: PromptRow[], blockSize = 16): Promise<Float32Array[]> {
  if (rows.length === 0) return [];
  const be = model.backend;
  const { batch, order, numBlocks } = promptBatch(rows, blockSize);
  const kv = new KvCache<F>(model.config, numBlocks, blockSize, (n) => be.allocF32(n));
  try {
    return splitRows(await model.forwardAsync(batch, kv), order, model.config.vocabSize);
  } finally {
    for (const t of [...kv.k, ...kv.v]) be.release(t);
  }
}

function splitRows(logits: Float32Array, order: number[], V: number): Float32Array[] {
  const out: Float32Array[] = new Array(order.length);
  order.forEach((rowIndex, seq) => { out[rowIndex] = logits.slice(seq * V, (seq + 1) * V); });
  return out;
}

/** the prompts as one batch, each in its own contiguous run of blocks; `order` = batch row -> input row */
function promptBatch(rows: PromptRow[], blockSize: number): { batch: ForwardBatch; order: number[]; numBlocks: number } {
  // rows of the same adapter are adjacent in the batch (one LoRA segment each)
  const order = rows.map((_, i) => i);
  const key = (a: LoraWeights | null) => (a ? a.id : "");
  order.sort((x, y) => (key(rows[x].adapter) < key(rows[y].adapter) ? -1 : key(rows[x].adapter) > key(rows[y].adapter) ? 1 : x - y));
  const maxBlocksPerSeq = Math.max(...rows.map((r) => Math.ceil(r.ids.length / blockSize)));
  const numBlocks = rows.length * maxBlocksPerSeq;
  const T = rows.reduce((n, r) => n + r.ids.length, 0);
  const batch: ForwardBatch = {
    tokens: new Int32Array(T), positions: new Int32Array(T), seqIndex: new Int32Array(T), slots: new Int32Array(T),
    blockTables: new Int32Array(rows.length * maxBlocksPerSeq).fill(-1), maxBlocksPerSeq,
    segStarts: new Int32Array(0), adapters: [], logitRows: new Int32Array(rows.length),
  };
  const segStarts: number[] = [];
  let t = 0;
  order.forEach((rowIndex, seq) => {
    const row = rows[rowIndex];
    if (row.ids.length === 0) throw new RangeError(`request ${rowIndex} has no token ids`);
    if (seq === 0 || row.adapter !== rows[order[seq - 1]].adapter) {
      segStarts.push(t);
      batch.adapters.push(row.adapter);
    }
    for (let b = 0; b < Math.ceil(row.ids.length / blockSize); b++) batch.blockTables[seq * maxBlocksPerSeq + b] = seq * maxBlocksPerSeq + b;
    row.ids.forEach((id, p) => {
      batch.tokens[t] = id;
      batch.positions[t] = p;
      batch.seqIndex[t] = seq;
      batch.slots[t] = (seq * maxBlocksPerSeq + Math.floor(p / blockSize)) * blockSize + (p % blockSize);
      t++;
    });
    batch.logitRows[seq] = t - 1;
  });
  segStarts.push(T);
  batch.segStarts = Int32Array.from(segStarts);
  return { batch, order, numBlocks };
}
