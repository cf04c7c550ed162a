/**
 * The paged KV cache's block pool (vLLM style). Blocks are ids in [0, numBlocks); a sequence
 * holds a block table (its blocks in position order) and token position p lives in slot
 * `table[floor(p / blockSize)] * blockSize + p % blockSize` of the KV cache.
 *
 * Free blocks sit in an explicit FIFO queue: at start 0, 1, ..., n-1; a freed block goes to the
 * back. Which block a sequence gets is therefore fully determined by the history of calls,
 * which is what the allocator tests check.
 */
export class BlockAllocator {
  readonly numBlocks: number;
  readonly blockSize: number;
  /** ring buffer of free block ids: freeQueue[(head + i) % numBlocks] for i < numFree */
  private readonly freeQueue: Int32Array;
  private head = 0;
  private free = 0;
  private readonly tables = new Map<number, number[]>();

  constructor(numBlocks: number, blockSize: number) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new RangeError(`numBlocks must be a positive integer, got ${numBlocks}`);
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`blockSize must be a positive integer, got ${blockSize}`);
    this.numBlocks = numBlocks;
    this.blockSize = blockSize;
    this.freeQueue = new Int32Array(numBlocks);
    for (let i = 0; i < numBlocks; i++) this.freeQueue[i] = i;
    this.free = numBlocks;
  }

  get numFree(): number {
    return this.free;
  }

  get numUsed(): number {
    return this.numBlocks - this.free;
  }

  /** blocks needed to hold `tokens` tokens */
  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.blockSize);
  }

  /** the block table of a sequence (empty when it holds none); do not mutate */
  table(seqId: number): readonly number[] {
    return this.tables.get(seqId) ?? EMPTY;
  }

  /** how many more blocks `seqId` needs so that it can hold `tokens` tokens */
  extraBlocksFor(seqId: number, tokens: number): number {
    return Math.max(0, this.blocksFor(tokens) - this.table(seqId).length);
  }

  /**
   * Grow the sequence's table so it holds `tokens` tokens in total. All or nothing: returns false
   * (and changes nothing) when the pool has too few free blocks.
   */
  ensureCapacity(seqId: number, tokens: number): boolean {
    const extra = this.extraBlocksFor(seqId, tokens);
    if (extra > this.free) return false;
    if (extra === 0) return true;
    let table = this.tables.get(seqId);
    if (!table) {
      table = [];
      this.tables.set(seqId, table);
    }
    for (let i = 0; i < extra; i++) table.push(this.pop());
    return true;
  }

  /** KV slot of the token at `position` of the sequence (its block must be allocated) */
  slot(seqId: number, position: number): number {
    const table = this.table(seqId);
    const b = Math.floor(position / this.blockSize);
    if (b >= table.length) throw new RangeError(`sequence ${seqId} has no block for position ${position}`);
    return table[b]! * this.blockSize + (position % this.blockSize);
  }

  /** return all blocks of the sequence to the back of the free queue, in table order */
  freeSequence(seqId: number): number {
    const table = this.tables.get(seqId);
    if (!table) return 0;
    for (const b of table) this.push(b);
    this.tables.delete(seqId);
    return table.length;
  }

  /** the free queue front to back (for tests and debugging) */
  freeIds(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.free; i++) out.push(this.freeQueue[(this.head + i) % this.numBlocks]!);
    return out;
  }

  private pop(): number {
    if (this.free === 0) throw new Error("KV block pool exhausted");
    const id = this.freeQueue[this.head]!;
    this.head = (this.head + 1) % this.numBlocks;
    this.free--;
    return id;
  }

  private push(id: number): void {
    this.freeQueue[(this.head + this.free) % this.numBlocks] = id;
    this.free++;
  }
}

const EMPTY: readonly number[] = Object.freeze([]);
