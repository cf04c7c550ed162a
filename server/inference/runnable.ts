/**
 * Whether an adapter can be run right now: decided by the worker's live state, never stored.
 */
import type { WorkerStatus } from "./client";

export type RunState = "runnable" | "loading" | "offline" | "other-base" | "missing" | "failed";

export interface Runnability {
  runnable: boolean;
  state: RunState;
  /** what the user reads next to the adapter */
  reason: string;
  /** the worker's adapter state (resident, host, disk, loading...) when it reports one */
  workerState: string | null;
}

/** Model ids compare without an org prefix or case: "mistralai/Mistral-7B-v0.1" ~ "Mistral-7B-v0.1". */
export function sameModel(a: string, b: string): boolean {
  const norm = (s: string) => s.trim().toLowerCase().replace(/\/+$/, "");
  const tail = (s: string) => norm(s).split("/").pop()!;
  return norm(a) === norm(b) || tail(a) === tail(b);
}

export function runnability(
  adapter: { adapterId: string; slug: string; baseModelId: string; hfRepo: string | null },
  worker: WorkerStatus,
): Runnability {
  if (!worker.online) return { runnable: false, state: "offline", reason: "The inference worker is offline.", workerState: null };
  if (!worker.ready) return { runnable: false, state: "loading", reason: worker.error ?? "The worker is still loading its model.", workerState: null };
  if (!worker.modelId) return { runnable: false, state: "offline", reason: "The worker did not report its base model.", workerState: null };
  if (!sameModel(worker.modelId, adapter.baseModelId)) {
    return {
      runnable: false,
      state: "other-base",
      reason: `Needs base model ${adapter.baseModelId}; this worker serves ${worker.modelId}.`,
      workerState: null,
    };
  }
  if (worker.adapters === null) {
    // LoRAX and TGI-style servers load any adapter on demand (from the Hub)
    return { runnable: true, state: "runnable", reason: "Loaded on demand by the worker.", workerState: null };
  }
  const listed = worker.adapters.find((a) => a.id === adapter.adapterId || a.id === adapter.slug || (adapter.hfRepo && a.id === adapter.hfRepo));
  if (!listed) {
    // LoRAX fetches a Hub adapter on demand; our worker (either protocol) registers a repo the catalog lists on first use (hub-adapters.ts)
    const workerFetches = Array.isArray(worker.info?.adapter_sources) && worker.info.adapter_sources.includes("hub");
    if (adapter.hfRepo && (worker.protocol === "lorax" || (workerFetches && adapter.adapterId === adapter.hfRepo))) {
      return { runnable: true, state: "runnable", reason: `Not on this worker yet; fetched from ${adapter.hfRepo} on first use.`, workerState: null };
    }
    return { runnable: false, state: "missing", reason: "This worker does not serve this adapter.", workerState: null };
  }
  if (listed.state === "failed") {
    return { runnable: false, state: "failed", reason: `The worker could not load it: ${listed.error ?? "unknown error"}.`, workerState: listed.state };
  }
  return { runnable: true, state: "runnable", reason: listed.state ? `On this worker (${listed.state}).` : "On this worker.", workerState: listed.state };
}
