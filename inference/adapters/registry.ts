/**
 * Which adapters the engine knows: id -> directory, source, header metadata and residency state.
 * Each registration gets its own cache key (`id#generation`), so re-registering an id with another
 * directory never serves the old weights to new requests while running ones finish on theirs.
 */
import type { AdapterInfo, AdapterState } from "../engine/types";
import type { MergeRecipe } from "./merge";

/** what the adapter's files say without reading the weights (PEFT adapter_config + safetensors header) */
export interface AdapterMeta {
  rank: number;
  alpha?: number;
  targetModules: string[];
  baseModel?: string | null;
  bytes: number;
}

export interface AdapterEntry {
  id: string;
  /** cache key of this registration */
  key: string;
  dir: string;
  source: AdapterInfo["source"];
  meta: AdapterMeta | null;
  state: AdapterState;
  error?: string;
  /** a per-request merge of registered adapters (never listed; its key is the recipe) */
  merge?: { parts: AdapterEntry[]; recipe: MergeRecipe };
}

/** merged adapters remembered at once; the oldest recipe is forgotten first */
const MAX_MERGED = 64;

export class AdapterRegistry {
  private readonly entries = new Map<string, AdapterEntry>();
  private readonly byKey = new Map<string, AdapterEntry>();
  private readonly merged = new Map<string, AdapterEntry>();
  private generation = 0;

  /**
   * The entry of a merge recipe (created once, then reused while its parts stay registered);
   * `forget` receives the key of a recipe pushed out, for the cache to drop its weights.
   */
  registerMerged(key: string, id: string, parts: AdapterEntry[], recipe: MergeRecipe, forget: (key: string) => void): AdapterEntry {
    const known = this.merged.get(key);
    if (known) return known;
    const entry: AdapterEntry = { id, key, dir: "", source: parts[0]!.source, meta: null, state: "disk", merge: { parts, recipe } };
    this.merged.set(key, entry);
    this.byKey.set(key, entry);
    if (this.merged.size > MAX_MERGED) {
      const oldest = this.merged.keys().next().value!;
      this.merged.delete(oldest);
      this.byKey.delete(oldest);
      forget(oldest);
    }
    return entry;
  }

  register(id: string, dir: string, source: AdapterInfo["source"]): AdapterEntry {
    if (typeof id !== "string" || id.length === 0 || id.length > 256) throw new RangeError("adapter id must be a non-empty string of at most 256 characters");
    const old = this.entries.get(id);
    if (old) this.byKey.delete(old.key);
    const entry: AdapterEntry = { id, key: `${id}#${++this.generation}`, dir, source, meta: null, state: "disk" };
    this.entries.set(id, entry);
    this.byKey.set(entry.key, entry);
    return entry;
  }

  unregister(id: string): AdapterEntry | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    this.entries.delete(id);
    this.byKey.delete(e.key);
    return e;
  }

  get(id: string): AdapterEntry | undefined {
    return this.entries.get(id);
  }

  /** the current registration with this cache key (undefined once replaced or unregistered) */
  byCacheKey(key: string): AdapterEntry | undefined {
    return this.byKey.get(key);
  }

  list(): AdapterInfo[] {
    return [...this.entries.values()].map(toInfo);
  }
}

export function toInfo(e: AdapterEntry): AdapterInfo {
  return {
    id: e.id,
    source: e.source,
    path: e.dir,
    rank: e.meta?.rank ?? null,
    targetModules: e.meta?.targetModules ?? [],
    bytes: e.meta?.bytes ?? null,
    state: e.state,
    ...(e.error !== undefined ? { error: e.error } : {}),
    baseModel: e.meta?.baseModel ?? null,
  };
}
