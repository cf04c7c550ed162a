/**
 * Published adapters (the catalog's LoRA Land `predibase/<task>`) on our worker: registered from
 * the Hub through the worker (`POST /adapters {id, source: "hub", repo}`) the first time a run
 * asks for one. Any owner may do this for a repo the catalog lists; other repos are left to the
 * worker, which answers that it does not serve them. Servers that fetch adapters on demand by
 * themselves (LoRAX, TGI: no adapter list) and servers that cannot fetch from the Hub (no
 * `adapter_sources` with "hub" in /info) are left alone.
 */
import type { Db } from "../../db/client";
import { catalogListsRepo } from "../db-queries/evals";
import { inferenceUrl, type Env } from "../env";
import { registerAdapter, workerStatus, type WorkerStatus } from "./client";

const HF_REPO = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

/** registrations under way in this process, by worker URL + repo: concurrent runs share one */
const pending = new Map<string, Promise<void>>();

/** The worker registers adapters from the Hub itself (our worker's /info lists "hub" among its adapter sources). */
export function fetchesFromHub(worker: Pick<WorkerStatus, "info">): boolean {
  const sources = worker.info?.adapter_sources;
  return Array.isArray(sources) && sources.includes("hub");
}

/**
 * Registers, on the worker, each of `adapterIds` that is a Hub repo the catalog lists and the
 * worker does not serve yet. Throws what the worker answered when it refuses (a WorkerError), or a
 * 504 when it answers nothing for WORKER_IDLE_TIMEOUT_S.
 */
export async function ensureCatalogHubAdapters(db: Db, env: Env, adapterIds: (string | null)[]): Promise<string[]> {
  const repos = [...new Set(adapterIds.filter((id): id is string => id !== null && HF_REPO.test(id)))];
  if (repos.length === 0) return [];
  const url = inferenceUrl(env);
  let status = await workerStatus(url, env.INFERENCE_PROTOCOL);
  if (!status.ready || status.adapters === null || !fetchesFromHub(status)) return [];
  const registered: string[] = [];
  for (const repo of repos) {
    if (status.adapters?.some((a) => a.id === repo && a.state !== "failed")) continue;
    if (!(await catalogListsRepo(db, { repo }))) continue;
    const key = `${url} ${repo}`;
    let p = pending.get(key);
    if (!p) {
      // a silent worker must not hold this start (and every later one of the repo) for good
      p = registerAdapter(url, { id: repo, source: "hub", repo }, undefined, env.WORKER_IDLE_TIMEOUT_S * 1000).finally(() => pending.delete(key));
      pending.set(key, p);
    }
    await p;
    registered.push(repo);
    // the next pages see it listed (the status is cached a few seconds otherwise)
    status = await workerStatus(url, env.INFERENCE_PROTOCOL, { fresh: true });
  }
  return registered;
}
