/**
 * Turns the scheduler's chunks into the ForwardBatch the model runs: flattened tokens with their
 * positions and KV slots, block tables, adapter segments and the rows whose logits are sampled.
 */
import type { LoraWeights } from "../adapters/lora-weights";
import type { ForwardBatch } from "../model/batch";
import type { BlockAllocator } from "./block-allocator";
import type { ScheduledChunk, SchedSeq } from "./scheduler";

export interface BuiltBatch<S extends SchedSeq> {
  batch: ForwardBatch;
  /** sequence of each sampled logits row: rows 0..sampled.length-1 */
  sampled: S[];
  /**
   * prompt rows asked for by `promptRows` (after the sampled rows): logits row `row` is the
   * prediction made at `position`, i.e. the distribution of the prompt token at position + 1
   */
  promptRows: { seq: S; row: number; position: number }[];
}

export function buildForwardBatch<S extends SchedSeq>(
  chunks: ScheduledChunk<S>[],
  allocator: BlockAllocator,
  adapterWeights: (adapterId: string) => LoraWeights,
  /** prompt length of a sequence whose prompt log-probabilities are wanted, else 0 */
  promptRows: (seq: S) => number = () => 0,
): BuiltBatch<S> {
  let T = 0;
  let maxBlocksPerSeq = 1;
  for (const c of chunks) {
    T += c.count;
    maxBlocksPerSeq = Math.max(maxBlocksPerSeq, allocator.table(c.seq.seqId).length);
  }
  const S = chunks.length;
  const tokens = new Int32Array(T); // (T)
  const positions = new Int32Array(T); // (T)
  const seqIndex = new Int32Array(T); // (T)
  const slots = new Int32Array(T); // (T)
  const blockTables = new Int32Array(S * maxBlocksPerSeq).fill(-1); // (S, maxBlocksPerSeq)
  const segStarts: number[] = [];
  const adapters: (LoraWeights | null)[] = [];
  const logitRows: number[] = [];
  const sampled: S[] = [];
  const extra: { seq: S; position: number; t: number }[] = [];

  let t = 0;
  let segAdapter: string | null | undefined = undefined;
  chunks.forEach((c, s) => {
    const table = allocator.table(c.seq.seqId);
    blockTables.set(table, s * maxBlocksPerSeq);
    if (c.seq.adapterId !== segAdapter || segStarts.length === 0) {
      segAdapter = c.seq.adapterId;
      segStarts.push(t);
      adapters.push(segAdapter === null ? null : adapterWeights(segAdapter));
    }
    const bs = allocator.blockSize;
    for (let p = c.start; p < c.start + c.count; p++, t++) {
      tokens[t] = c.seq.tokens[p]!;
      positions[t] = p;
      seqIndex[t] = s;
      slots[t] = table[Math.floor(p / bs)]! * bs + (p % bs);
    }
    if (c.sample) {
      logitRows.push(t - 1);
      sampled.push(c.seq);
    }
    // positions that predict a prompt token (p + 1 < promptLen)
    const promptLen = promptRows(c.seq);
    const t0 = t - c.count;
    for (let p = c.start; p < Math.min(c.start + c.count, promptLen - 1); p++) extra.push({ seq: c.seq, position: p, t: t0 + (p - c.start) });
  });
  segStarts.push(T);
  const rows = extra.map((e, i) => {
    logitRows.push(e.t);
    return { seq: e.seq, row: sampled.length + i, position: e.position };
  });

  return {
    batch: {
      tokens, positions, seqIndex, slots, blockTables, maxBlocksPerSeq,
      segStarts: Int32Array.from(segStarts), adapters, logitRows: Int32Array.from(logitRows),
    },
    sampled,
    promptRows: rows,
  };
}
