/**
 * From what a client names to an adapter the engine knows: registered ids are used as they are;
 * `source: "local"` resolves a path under the adapter roots; `source: "hub"` downloads from the Hub
 * into the cache. Registration validates the adapter against the base (422 when it does not fit).
 * Concurrent requests for the same new adapter share one registration.
 */
import type { AdapterInfo } from "../engine/types";
import { checkAdapterId } from "../adapters/local";
import { fetchHubAdapter } from "../adapters/hub";
import { HttpError, toHttpError } from "./errors";
import type { WorkerState } from "./state";

const pending = new Map<string, Promise<AdapterInfo>>();

export interface RegisterRequest {
  id: string;
  source: "local" | "hub";
  /** local: folder (absolute, or relative to an adapter root); default: the id under a root */
  path?: string | null;
  /** hub: repo id; default: the id */
  repo?: string | null;
  revision?: string | null;
  apiToken?: string | null;
}

/** Register (or replace) an adapter; throws HttpError 404/422/401/424. */
export async function registerAdapter(state: WorkerState, r: RegisterRequest, field = "id"): Promise<AdapterInfo> {
  const engine = state.ready();
  checkAdapterId(r.id, field);
  const started = Date.now();
  let dir: string;
  if (r.source === "hub") {
    dir = await fetchHubAdapter(r.repo || r.id, r.revision, r.apiToken, state.options.hub, () => state.admitDownload());
  } else {
    dir = await state.options.roots.resolve(r.path || r.id, r.path ? "path" : field);
  }
  let info: AdapterInfo;
  try {
    info = await engine.registerAdapter(r.id, dir, r.source, { validate: true });
  } catch (e) {
    const err = toHttpError(e);
    state.log("adapter_rejected", { id: r.id, source: r.source, dir, error: err.message });
    throw new HttpError(err.status === 500 ? 422 : err.status, err.code, err.message, { field: err.field ?? field });
  }
  state.log("adapter_registered", { id: r.id, source: r.source, dir, rank: info.rank, bytes: info.bytes, ms: Date.now() - started });
  return info;
}

/**
 * The adapter a generation asks for, registered: null for the base model; 404 for an unknown id
 * without a source; 422 for a failed one.
 */
export async function ensureAdapter(
  state: WorkerState,
  adapterId: string | null,
  source: "local" | "hub" | null,
  apiToken: string | null,
  field: string,
): Promise<string | null> {
  if (adapterId === null) return null;
  const engine = state.ready();
  const known = engine.listAdapters().find((a) => a.id === adapterId);
  if (known) {
    if (known.state === "failed") {
      throw new HttpError(422, "adapter_invalid", known.error ?? `adapter "${adapterId}" failed to load`, { field });
    }
    return adapterId;
  }
  if (source === null) {
    throw new HttpError(404, "adapter_not_found", `adapter "${adapterId}" is not served here (GET /adapters lists them; adapter_source "hub" or "local" loads a new one)`, { field });
  }
  checkAdapterId(adapterId, field);
  const key = `${source}:${adapterId}`;
  let p = pending.get(key);
  if (!p) {
    p = registerAdapter(state, { id: adapterId, source, apiToken }, field).finally(() => pending.delete(key));
    pending.set(key, p);
  }
  await p;
  return adapterId;
}
