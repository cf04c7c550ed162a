import type { ModelConfig } from "./config";

/**
 * Paged KV storage: per layer one K and one V pool of `numBlocks * blockSize` slots, each slot
 * holding one token's keys (numKvHeads * headDim floats). Which blocks belong to which sequence
 * is the engine's business (engine/block-allocator.ts); this class only holds the memory, as
 * tensors of the backend that computes (host arrays by default).
 */
export class KvCache<F = Float32Array> {
  /** per layer: (numBlocks * blockSize, numKvHeads * headDim) */
  readonly k: F[];
  readonly v: F[];
  readonly bytes: number;

  constructor(
    readonly config: ModelConfig, readonly numBlocks: number, readonly blockSize: number,
    alloc: (floats: number) => F = (floats) => new Float32Array(floats) as F,
  ) {
    if (!Number.isInteger(numBlocks) || numBlocks <= 0) throw new RangeError(`numBlocks must be a positive integer, got ${numBlocks}`);
    if (!Number.isInteger(blockSize) || blockSize <= 0) throw new RangeError(`blockSize must be a positive integer, got ${blockSize}`);
    const floats = numBlocks * blockSize * config.numKvHeads * config.headDim;
    this.k = Array.from({ length: config.numLayers }, () => alloc(floats));
    this.v = Array.from({ length: config.numLayers }, () => alloc(floats));
    this.bytes = KvCache.bytesPerBlock(config, blockSize) * numBlocks;
  }

  /** bytes one block takes in one layer's K (or V) pool */
  static bufferBytesPerBlock(config: ModelConfig, blockSize: number): number {
    return blockSize * config.numKvHeads * config.headDim * 4;
  }

  /** bytes one block takes across all layers, K and V */
  static bytesPerBlock(config: ModelConfig, blockSize: number): number {
    return 2 * config.numLayers * blockSize * config.numKvHeads * config.headDim * 4;
  }
}
