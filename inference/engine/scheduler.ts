/**
 * Continuous batching without prefill or decode phases (vLLM v1 style).
 *
 * A sequence knows all its tokens (prompt + generated) and how many of them have their keys and
 * values in the KV cache (`numComputed`). Each step the scheduler hands out a token budget:
 *   1. running sequences, oldest first: a decode (1 token) or the next chunk of a prompt;
 *      when the KV pool is short, the newest running sequence is preempted (blocks freed, back
 *      to waiting with numComputed = 0: it is recomputed later, so answers never change);
 *   2. waiting sequences, first come first served, while the budget, `maxRunning` and the pool
 *      allow; one whose adapter is not resident yet is skipped (its load was started) so the
 *      others are not held up.
 * The result is a plain data object; the engine loop runs it and applies the results.
 */
import type { BlockAllocator } from "./block-allocator";

/** the scheduler's view of a request */
export interface SchedSeq {
  readonly seqId: number;
  readonly adapterId: string | null;
  /** prompt + generated ids; the last one's KV is computed by the next step that samples */
  readonly tokens: number[];
  numComputed: number;
  /** arrival order (smaller = older) */
  readonly arrival: number;
}

/** pins an adapter while sequences using it run; loads it when it is not resident */
export interface AdapterGate {
  /** true (and pinned) when resident; otherwise starts loading it and returns false */
  tryAcquire(adapterId: string): boolean;
  release(adapterId: string): void;
  /** true when the adapter is loaded but every slot is pinned by running sequences */
  waitsForSlot?(adapterId: string): boolean;
}

export interface ScheduledChunk<S extends SchedSeq = SchedSeq> {
  seq: S;
  /** first token index (= its position) and count of tokens computed this step */
  start: number;
  count: number;
  /** the chunk reaches the last known token: its logits row is sampled */
  sample: boolean;
}

export interface SchedulerOutput<S extends SchedSeq = SchedSeq> {
  /** in batch order: chunks of the same adapter are adjacent (base model first) */
  chunks: ScheduledChunk<S>[];
  /** sequences preempted this step (they are back in the waiting queue) */
  preempted: S[];
  numTokens: number;
}

export interface SchedulerLimits {
  maxBatchTokens: number;
  maxRunning: number;
}

export class Scheduler<S extends SchedSeq = SchedSeq> {
  readonly waiting: S[] = [];
  readonly running: S[] = [];
  private readonly allocator: BlockAllocator;
  private readonly limits: SchedulerLimits;
  private readonly gate: AdapterGate;

  constructor(allocator: BlockAllocator, limits: SchedulerLimits, gate: AdapterGate) {
    if (!(limits.maxBatchTokens >= 1)) throw new RangeError(`maxBatchTokens must be >= 1, got ${limits.maxBatchTokens}`);
    if (!(limits.maxRunning >= 1)) throw new RangeError(`maxRunning must be >= 1, got ${limits.maxRunning}`);
    this.allocator = allocator;
    this.limits = limits;
    this.gate = gate;
  }

  get hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  add(seq: S): void {
    this.insertWaiting(seq);
  }

  /** take a sequence out (finished, cancelled or failed): frees its blocks and unpins its adapter */
  remove(seq: S): void {
    const r = this.running.indexOf(seq);
    if (r >= 0) {
      this.running.splice(r, 1);
      this.allocator.freeSequence(seq.seqId);
      if (seq.adapterId !== null) this.gate.release(seq.adapterId);
      return;
    }
    const w = this.waiting.indexOf(seq);
    if (w >= 0) this.waiting.splice(w, 1);
  }

  schedule(): SchedulerOutput<S> {
    let budget = this.limits.maxBatchTokens;
    const chunks: ScheduledChunk<S>[] = [];
    const preempted: S[] = [];

    // 1. running sequences, oldest first
    for (let i = 0; i < this.running.length && budget > 0; ) {
      const seq = this.running[i]!;
      const n = Math.min(seq.tokens.length - seq.numComputed, budget);
      if (n <= 0) { i++; continue; }
      let self = false;
      while (!this.allocator.ensureCapacity(seq.seqId, seq.numComputed + n)) {
        const victim = this.running[this.running.length - 1]!;
        this.preempt(victim);
        preempted.push(victim);
        if (victim === seq) { self = true; break; }
      }
      if (self) break;
      chunks.push({ seq, start: seq.numComputed, count: n, sample: seq.numComputed + n === seq.tokens.length });
      budget -= n;
      i++;
    }

    // 2. admit waiting sequences (not in a step that had to preempt: the pool is tight)
    if (preempted.length === 0) {
      // once an older request waits for an adapter slot, later ones may not pin adapters (only
      // base-model requests pass): the pinned slots then drain and it cannot starve
      let slotQueue = false;
      for (let j = 0; j < this.waiting.length && budget > 0 && this.running.length < this.limits.maxRunning; ) {
        const seq = this.waiting[j]!;
        const n = Math.min(seq.tokens.length - seq.numComputed, budget);
        if (this.allocator.extraBlocksFor(seq.seqId, seq.numComputed + n) > this.allocator.numFree) break;
        if (seq.adapterId !== null && (slotQueue || !this.gate.tryAcquire(seq.adapterId))) {
          if (!slotQueue && this.gate.waitsForSlot?.(seq.adapterId)) slotQueue = true;
          j++;
          continue;
        }
        this.allocator.ensureCapacity(seq.seqId, seq.numComputed + n);
        this.waiting.splice(j, 1);
        this.running.push(seq);
        chunks.push({ seq, start: seq.numComputed, count: n, sample: seq.numComputed + n === seq.tokens.length });
        budget -= n;
      }
    }

    return { chunks: groupByAdapter(chunks), preempted, numTokens: this.limits.maxBatchTokens - budget };
  }

  private preempt(seq: S): void {
    this.remove(seq);
    seq.numComputed = 0;
    this.insertWaiting(seq);
  }

  private insertWaiting(seq: S): void {
    let i = this.waiting.length;
    while (i > 0 && this.waiting[i - 1]!.arrival > seq.arrival) i--;
    this.waiting.splice(i, 0, seq);
  }
}

/** stable grouping: base model chunks first, then each adapter in order of first appearance */
function groupByAdapter<S extends SchedSeq>(chunks: ScheduledChunk<S>[]): ScheduledChunk<S>[] {
  const groups = new Map<string | null, ScheduledChunk<S>[]>([[null, []]]);
  for (const c of chunks) {
    const g = groups.get(c.seq.adapterId);
    if (g) g.push(c);
    else groups.set(c.seq.adapterId, [c]);
  }
  return [...groups.values()].flat();
}
