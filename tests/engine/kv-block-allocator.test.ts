import { describe, expect, it } from "vitest";
import { BlockAllocator } from "../../inference/engine/block-allocator";

describe("BlockAllocator", () => {
  it("hands out blocks from the front of the free queue in id order", () => {
    const a = new BlockAllocator(6, 4);
    expect(a.ensureCapacity(1, 5)).toBe(true); // 2 blocks
    expect(a.table(1)).toEqual([0, 1]);
    expect(a.ensureCapacity(2, 4)).toBe(true); // exactly 1 block
    expect(a.table(2)).toEqual([2]);
    expect(a.numFree).toBe(3);
    expect(a.freeIds()).toEqual([3, 4, 5]);
  });

  it("grows a table only when a block boundary is crossed (append slot)", () => {
    const a = new BlockAllocator(4, 4);
    expect(a.ensureCapacity(7, 1)).toBe(true);
    expect(a.table(7)).toEqual([0]);
    for (let t = 2; t <= 4; t++) {
      expect(a.ensureCapacity(7, t)).toBe(true);
      expect(a.table(7)).toEqual([0]);
    }
    expect(a.ensureCapacity(7, 5)).toBe(true);
    expect(a.table(7)).toEqual([0, 1]);
    expect(a.slot(7, 0)).toBe(0);
    expect(a.slot(7, 3)).toBe(3);
    expect(a.slot(7, 4)).toBe(4);
    expect(() => a.slot(7, 8)).toThrow(/no block/);
  });

  it("reuses freed blocks FIFO: freed ids go to the back of the queue in table order", () => {
    const a = new BlockAllocator(5, 2);
    a.ensureCapacity(1, 4); // [0,1]
    a.ensureCapacity(2, 2); // [2]
    a.ensureCapacity(3, 3); // [3,4]
    expect(a.numFree).toBe(0);
    expect(a.freeSequence(1)).toBe(2);
    expect(a.freeIds()).toEqual([0, 1]);
    expect(a.freeSequence(2)).toBe(1);
    expect(a.freeIds()).toEqual([0, 1, 2]);
    a.ensureCapacity(4, 3);
    expect(a.table(4)).toEqual([0, 1]);
    expect(a.freeIds()).toEqual([2]);
    a.freeSequence(3);
    expect(a.freeIds()).toEqual([2, 3, 4]);
    a.ensureCapacity(5, 6);
    expect(a.table(5)).toEqual([2, 3, 4]);
    // the ring buffer wrapped around; slots follow the table
    expect(a.slot(5, 5)).toBe(4 * 2 + 1);
  });

  it("is all or nothing when the pool is short", () => {
    const a = new BlockAllocator(3, 4);
    a.ensureCapacity(1, 8); // [0,1]
    expect(a.ensureCapacity(2, 9)).toBe(false); // needs 3, only 1 free
    expect(a.table(2)).toEqual([]);
    expect(a.numFree).toBe(1);
    expect(a.ensureCapacity(1, 13)).toBe(false); // needs 2 more
    expect(a.table(1)).toEqual([0, 1]);
    expect(a.ensureCapacity(1, 12)).toBe(true);
    expect(a.table(1)).toEqual([0, 1, 2]);
    expect(a.numUsed).toBe(3);
  });

  it("freeing an unknown sequence is a no-op and tables are per sequence", () => {
    const a = new BlockAllocator(2, 1);
    expect(a.freeSequence(42)).toBe(0);
    a.ensureCapacity(1, 1);
    a.ensureCapacity(2, 1);
    expect(a.table(1)).toEqual([0]);
    expect(a.table(2)).toEqual([1]);
    expect(a.extraBlocksFor(1, 3)).toBe(2);
    expect(() => new BlockAllocator(0, 4)).toThrow(RangeError);
  });
});
