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
  const kv = new KvCache(model.config, numBlocks, blockSize);
  const logits = model.forward(batch, kv);
  const V = model.config.vocabSize;
  const out: Float32Array[] = new Array(rows.length);
  order.forEach((rowIndex, seq) => { out[rowIndex] = logits.slice(seq * V, (seq + 1) * V); });
  return out;
}
