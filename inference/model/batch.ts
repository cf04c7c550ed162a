import type { LoraWeights } from "../adapters/lora-weights";

/**
 * What one forward pass runs: the tokens of every scheduled request, flattened (prefill chunks
 * and decodes alike). Built by the scheduler (engine/) or by the `logits` CLI; read by
 * `Model.forward`. T = tokens in the step, S = sequences in the step.
 */
export interface ForwardBatch {
  /** (T) token ids */
  tokens: Int32Array;
  /** (T) position of each token in its own sequence */
  positions: Int32Array;
  /** (T) row of the token's sequence in blockTables */
  seqIndex: Int32Array;
  /** (T) KV cache slot the token's key/value is written to: block * blockSize + offset */
  slots: Int32Array;
  /** (S, maxBlocksPerSeq) block ids of each sequence, unused entries -1 */
  blockTables: Int32Array;
  maxBlocksPerSeq: number;
  /**
   * Runs of consecutive tokens that share one adapter, in token order, covering [0, T):
   * segment i is tokens [segStarts[i], segStarts[i+1]); adapters[i] null = base model.
   * The scheduler orders tokens so that requests of the same adapter are adjacent.
   */
  segStarts: Int32Array;
  adapters: (LoraWeights | null)[];
  /** token rows whose logits are wanted (usually the last token of each sequence), in output order */
  logitRows: Int32Array;
}
