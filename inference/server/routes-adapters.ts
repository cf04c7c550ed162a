/**
 * Adapters at run time: GET /adapters, GET /adapters/:id, POST /adapters (register a local folder
 * under the adapter roots, or download from the Hub), DELETE /adapters/:id.
 */
import { z } from "zod";
import type { AdapterInfo } from "../engine/types";
import { HttpError } from "./errors";
import { readJsonBody, sendJson, type Router } from "./http";
import { registerAdapter } from "./adapter-sources";
import { parseBody } from "./validation";
import type { WorkerState } from "./state";

const registerSchema = z.object({
  id: z.string().min(1).max(200),
  source: z.enum(["local", "hub"]),
  path: z.string().min(1).max(4096).nullish(),
  repo: z.string().min(1).max(200).nullish(),
  revision: z.string().min(1).max(200).nullish(),
  api_token: z.string().max(4096).nullish(),
});

export function adapterJson(a: AdapterInfo) {
  return {
    id: a.id,
    source: a.source,
    path: a.path,
    rank: a.rank,
    target_modules: a.targetModules,
    bytes: a.bytes,
    state: a.state,
    error: a.error ?? null,
    base_model: a.baseModel ?? null,
  };
}

export function addAdapterRoutes(router: Router, state: WorkerState): void {
  router.add("GET", "/adapters", ({ res }) => {
    const engine = state.ready();
    sendJson(res, 200, { model_id: state.options.modelId, adapters: engine.listAdapters().map(adapterJson) });
  });
  router.add("GET", "/adapters/:id*", ({ res, params }) => {
    const a = state.ready().listAdapters().find((x) => x.id === params.id);
    if (!a) throw new HttpError(404, "adapter_not_found", `adapter "${params.id}" is not registered`, { field: "id" });
    sendJson(res, 200, adapterJson(a));
  });
  router.add("POST", "/adapters", async ({ req, res }) => {
    const b = parseBody(registerSchema, await readJsonBody(req, state.options.maxBodyBytes));
    if (b.source === "local" && b.repo) throw new HttpError(422, "invalid_request", "repo is only for source \"hub\"", { field: "repo" });
    if (b.source === "hub" && b.path) throw new HttpError(422, "invalid_request", "path is only for source \"local\"", { field: "path" });
    const info = await registerAdapter(state, { id: b.id, source: b.source, path: b.path, repo: b.repo, revision: b.revision, apiToken: b.api_token });
    sendJson(res, 201, adapterJson(info));
  });
  router.add("DELETE", "/adapters/:id*", ({ res, params }) => {
    const engine = state.ready();
    if (!engine.unregisterAdapter(params.id)) throw new HttpError(404, "adapter_not_found", `adapter "${params.id}" is not registered`, { field: "id" });
    state.log("adapter_unregistered", { id: params.id });
    sendJson(res, 200, { id: params.id, deleted: true });
  });
}
