/**
 * Adapter residency in tiers (S-LoRA / LoRAX style):
 *   resident — in one of `slots` places the forward pass reads, within `budgetBytes`;
 *   host     — converted weights kept in RAM (LRU, within `hostBytes`) so reloading is instant;
 *   disk     — the adapter files.
 * A resident adapter used by running sequences is pinned (ref count); idle ones are evicted least
 * recently used first, to the host tier or dropped. Loading runs as a promise the engine loop never
 * awaits (with PEFT loads, the weights are read and converted in a worker thread, see
 * load-worker-client.ts): requests for that adapter wait in the scheduler while others keep
 * stepping; `onSettled` tells the engine to look again.
 */
import type { LoraWeights } from "./lora-weights";
import type { AdapterRegistry, AdapterEntry } from "./registry";
import { AdapterError } from "../errors";

export interface AdapterCacheOptions {
  slots: number;
  budgetBytes: number;
  hostBytes: number;
  /** reads, validates and converts the adapter (throws AdapterError) */
  load: (entry: AdapterEntry) => Promise<LoraWeights>;
  /** a load finished (ok or failed): the engine re-schedules, and fails waiting requests on error */
  onSettled?: (key: string, error: AdapterError | null) => void;
  /** weights entered / left the resident tier (the model uploads / frees their device copies) */
  onResident?: (weights: LoraWeights) => void;
  onEvicted?: (weights: LoraWeights) => void;
}

interface Held {
  weights: LoraWeights;
  refs: number;
  lastUsed: number;
}

export class AdapterCache {
  private readonly opts: AdapterCacheOptions;
  private readonly registry: AdapterRegistry;
  private readonly resident = new Map<string, Held>();
  private readonly host = new Map<string, { weights: LoraWeights; lastUsed: number }>();
  /** loaded but not yet placed (no free slot at the time): waits for a slot, outside the host budget */
  private readonly pending = new Map<string, LoraWeights>();
  private readonly loading = new Map<string, Promise<void>>();
  private readonly failed = new Map<string, AdapterError>();
  private clock = 0;
  loadsStarted = 0;

  constructor(registry: AdapterRegistry, opts: AdapterCacheOptions) {
    if (!(opts.slots >= 1)) throw new RangeError(`adapterSlots must be >= 1, got ${opts.slots}`);
    this.registry = registry;
    this.opts = opts;
  }

  get residentCount(): number {
    return this.resident.size;
  }

  get residentBytes(): number {
    let b = 0;
    for (const h of this.resident.values()) b += h.weights.bytes;
    return b;
  }

  get hostBytes(): number {
    let b = 0;
    for (const h of this.host.values()) b += h.weights.bytes;
    return b;
  }

  isResident(key: string): boolean {
    return this.resident.has(key);
  }

  failure(key: string): AdapterError | undefined {
    return this.failed.get(key);
  }

  /** weights of a resident adapter (the batch builder's lookup) */
  weights(key: string): LoraWeights {
    const h = this.resident.get(key);
    if (!h) throw new Error(`adapter ${key} is not resident`);
    return h.weights;
  }

  /** the weights if any tier holds them (resident, just loaded, or host); no pin, no state change */
  loaded(key: string): LoraWeights | undefined {
    return this.resident.get(key)?.weights ?? this.pending.get(key) ?? this.host.get(key)?.weights;
  }

  /** pin a resident adapter (true), or bring it in: from host/pending at once if a slot frees, else start a load (false) */
  tryAcquire(key: string): boolean {
    const held = this.resident.get(key);
    if (held) {
      held.refs++;
      held.lastUsed = ++this.clock;
      return true;
    }
    if (this.failed.has(key)) return false;
    const ready = this.pending.get(key) ?? this.host.get(key)?.weights;
    if (ready) {
      if (!this.makeRoom(ready.bytes)) return false;
      this.pending.delete(key);
      this.host.delete(key);
      this.makeResident(key, ready, 1);
      return true;
    }
    this.startLoad(key);
    return false;
  }

  /** loaded (host tier or just loaded) but no slot can be freed: every resident adapter is pinned */
  waitsForSlot(key: string): boolean {
    if (this.resident.has(key)) return false;
    const ready = this.pending.get(key) ?? this.host.get(key)?.weights;
    return ready !== undefined && !this.canMakeRoom(ready.bytes);
  }

  release(key: string): void {
    const h = this.resident.get(key);
    if (!h) return;
    h.refs = Math.max(0, h.refs - 1);
    h.lastUsed = ++this.clock;
    if (h.refs === 0 && !this.registry.byCacheKey(key)) this.leave(key); // unregistered meanwhile
  }

  /** load ahead of use and make it resident if a slot can be freed; rejects with the AdapterError */
  async preload(key: string): Promise<void> {
    if (this.resident.has(key)) return;
    this.startLoad(key);
    await this.loading.get(key);
    const err = this.failed.get(key);
    if (err) throw err;
    const w = this.pending.get(key) ?? this.host.get(key)?.weights;
    if (w && this.makeRoom(w.bytes)) {
      this.pending.delete(key);
      this.host.delete(key);
      this.makeResident(key, w, 0);
    }
  }

  /** forget a registration's copies (unregister / re-register); a pinned copy stays until released */
  drop(key: string): void {
    this.pending.delete(key);
    this.host.delete(key);
    this.failed.delete(key);
    const h = this.resident.get(key);
    if (h && h.refs === 0) this.leave(key);
  }

  private makeResident(key: string, weights: LoraWeights, refs: number): void {
    this.resident.set(key, { weights, refs, lastUsed: ++this.clock });
    this.setState(key, "resident");
    this.opts.onResident?.(weights);
  }

  private leave(key: string): Held {
    const h = this.resident.get(key)!;
    this.resident.delete(key);
    this.opts.onEvicted?.(h.weights);
    return h;
  }

  private startLoad(key: string): void {
    if (this.loading.has(key) || this.pending.has(key) || this.host.has(key) || this.resident.has(key) || this.failed.has(key)) return;
    const entry = this.registry.byCacheKey(key);
    if (!entry) return;
    entry.state = "loading";
    this.loadsStarted++;
    const p = (async () => {
      let error: AdapterError | null = null;
      try {
        const w = await this.opts.load(entry);
        if (this.registry.byCacheKey(key) !== entry) return; // replaced while loading
        if (w.bytes > this.opts.budgetBytes) {
          throw new AdapterError(entry.id, `needs ${w.bytes} bytes, more than the adapter budget of ${this.opts.budgetBytes} bytes`, { code: "adapter_too_large", field: "adapterBudgetBytes" });
        }
        this.pending.set(key, w);
        entry.state = "host";
      } catch (e) {
        error = e instanceof AdapterError ? e : new AdapterError(entry.id, e instanceof Error ? e.message : String(e), { cause: e });
        this.failed.set(key, error);
        entry.state = "failed";
        entry.error = error.message;
      } finally {
        this.loading.delete(key);
      }
      this.opts.onSettled?.(key, error);
    })();
    this.loading.set(key, p);
  }

  /** whether evicting every idle resident adapter would make one more of `bytes` fit */
  private canMakeRoom(bytes: number): boolean {
    let count = 0;
    let pinnedBytes = 0;
    for (const h of this.resident.values()) if (h.refs > 0) { count++; pinnedBytes += h.weights.bytes; }
    return count < this.opts.slots && pinnedBytes + bytes <= this.opts.budgetBytes;
  }

  /** evict idle resident adapters (LRU) until one more of `bytes` fits; false when pinned ones block it */
  private makeRoom(bytes: number): boolean {
    const fits = () => this.resident.size < this.opts.slots && this.residentBytes + bytes <= this.opts.budgetBytes;
    if (!fits() && !this.canMakeRoom(bytes)) return false; // evict nothing in vain
    while (!fits()) {
      let victim: string | null = null;
      let oldest = Infinity;
      for (const [k, h] of this.resident) if (h.refs === 0 && h.lastUsed < oldest) { oldest = h.lastUsed; victim = k; }
      if (victim === null) return false;
      this.evict(victim);
    }
    return true;
  }

  private evict(key: string): void {
    const h = this.leave(key);
    if (this.opts.hostBytes >= h.weights.bytes && this.registry.byCacheKey(key)) {
      this.host.set(key, { weights: h.weights, lastUsed: h.lastUsed });
      this.setState(key, "host");
      // trim the host tier, least recently used first
      while (this.hostBytes > this.opts.hostBytes) {
        let victim: string | null = null;
        let oldest = Infinity;
        for (const [k, e] of this.host) if (e.lastUsed < oldest) { oldest = e.lastUsed; victim = k; }
        if (victim === null) break;
        this.host.delete(victim);
        this.setState(victim, "disk");
      }
    } else {
      this.setState(key, "disk");
    }
  }

  private setState(key: string, state: AdapterEntry["state"]): void {
    const e = this.registry.byCacheKey(key);
    if (e) e.state = state;
  }
}
