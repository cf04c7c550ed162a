/**
 * Hugging Face Hub adapter source: downloads `adapter_config.json` and `adapter_model.safetensors`
 * from `${endpoint}/{repo}/resolve/{revision}/{file}` (Bearer token: the request's `api_token`,
 * else HF_TOKEN) into `{cacheDir}/{org}--{name}/{revision}/`. Files are streamed to a temp folder
 * (never held in memory; the downloader in ../hub/download.ts, shared with base models, which checks
 * the Hub's sha256 when it sends one), counted against a per-repo byte limit while they arrive (a repo over it
 * is refused with 422 `adapter_too_large` and its partial files deleted), validated (JSON config
 * of a LoRA adapter, a well-formed safetensors header whose offsets fit the file), and the folder
 * is renamed into place, so a cache entry is always complete. The caller admits each download
 * (`admit`: the worker caps downloads at once and counts them in its admission).
 */
import fs from "node:fs/promises";
import path from "node:path";
import crypto from "node:crypto";
import { HttpError } from "../server/errors";
import { downloadFile } from "../hub/download";

export const HUB_FILES = ["adapter_config.json", "adapter_model.safetensors"] as const;

export interface HubOptions {
  endpoint: string;
  cacheDir: string;
  /** used when the request gives none */
  defaultToken?: string | null;
  /** both files of a repo together (default 1 GiB) */
  maxRepoBytes?: number;
  /** downloads at once (enforced by the caller's `admit`; default 2) */
  maxConcurrent?: number;
  timeoutMs?: number;
}

/** Called before a download starts (not for a cached repo): throws to refuse it, else returns its release. */
export type DownloadAdmission = () => () => void;

const REPO = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;
const REVISION = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function hubCacheDirFor(cacheDir: string, repo: string, revision: string): string {
  return path.join(cacheDir, repo.replace("/", "--"), revision);
}

const inflight = new Map<string, Promise<string>>();

/** Download (or reuse from the cache) a Hub adapter; resolves to its local folder. */
export function fetchHubAdapter(repo: string, revision: string | null | undefined, token: string | null | undefined, opts: HubOptions, admit: DownloadAdmission = () => () => {}): Promise<string> {
  const rev = revision || "main";
  if (!REPO.test(repo) || repo.split("/").some((p) => p === ".." || p === ".")) {
    return Promise.reject(new HttpError(422, "invalid_request", `repo "${repo.slice(0, 80)}" is not a Hub repo id (org/name)`, { field: "repo" }));
  }
  if (!REVISION.test(rev) || rev.includes("..")) {
    return Promise.reject(new HttpError(422, "invalid_request", `revision "${rev.slice(0, 80)}" is not a valid revision`, { field: "revision" }));
  }
  const dest = hubCacheDirFor(opts.cacheDir, repo, rev);
  const key = dest;
  const running = inflight.get(key);
  if (running) return running;
  const p = download(repo, rev, token ?? opts.defaultToken ?? null, dest, opts, admit).finally(() => inflight.delete(key));
  inflight.set(key, p);
  return p;
}

async function complete(dir: string): Promise<boolean> {
  try {
    for (const f of HUB_FILES) await fs.access(path.join(dir, f));
    return true;
  } catch {
    return false;
  }
}

async function download(repo: string, rev: string, token: string | null, dest: string, opts: HubOptions, admit: DownloadAdmission): Promise<string> {
  if (await complete(dest)) return dest;
  const release = admit();
  try {
    return await downloadAdmitted(repo, rev, token, dest, opts);
  } finally {
    release();
  }
}

async function downloadAdmitted(repo: string, rev: string, token: string | null, dest: string, opts: HubOptions): Promise<string> {
  const maxRepoBytes = opts.maxRepoBytes ?? 1 << 30;
  let used = 0;
  const endpoint = opts.endpoint.replace(/\/+$/, "");
  const parent = path.dirname(dest);
  await fs.mkdir(parent, { recursive: true });
  const tmp = path.join(parent, `.tmp-${rev}-${process.pid}-${crypto.randomBytes(4).toString("hex")}`);
  await fs.mkdir(tmp);
  try {
    for (const file of HUB_FILES) {
      const url = `${endpoint}/${repo}/resolve/${encodeURIComponent(rev)}/${file}`;
      used += await fetchFile(url, token, repo, file, opts, path.join(tmp, file), maxRepoBytes - used, maxRepoBytes);
    }
    await validateDownloaded(tmp, repo);
    try {
      await fs.rename(tmp, dest);
    } catch (e) {
      // another process finished the same download first: keep theirs
      if (!(await complete(dest))) throw e;
      await fs.rm(tmp, { recursive: true, force: true });
    }
    return dest;
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

function tooLarge(repo: string, limit: number, detail: string): HttpError {
  return new HttpError(422, "adapter_too_large", `adapter "${repo}" is larger than this worker's limit of ${limit} bytes (${(limit / 2 ** 20).toFixed(0)} MiB, --hub-max-mb): ${detail}`, { field: "adapter_id" });
}

/** Streams one file to `dest` (the shared Hub downloader); resolves to its size. Refuses it once it passes `budget` bytes. */
function fetchFile(url: string, token: string | null, repo: string, file: string, opts: HubOptions, dest: string, budget: number, limit: number): Promise<number> {
  return downloadFile(url, dest, {
    token, timeoutMs: opts.timeoutMs ?? 120_000, budget,
    errors: {
      what: `${file} of "${repo}"`, field: "adapter_id",
      unauthorized: (status) => new HttpError(401, "hub_unauthorized", `the Hub refused ${file} of "${repo}" (HTTP ${status}); give a valid api_token or set HF_TOKEN (a gated repo: accept its license on the Hub with that account)`, { field: "api_token" }),
      notFound: () => new HttpError(404, "adapter_not_found", `the Hub has no ${file} for "${repo}" at that revision`, { field: "adapter_id" }),
      tooLarge: (detail) => tooLarge(repo, limit, detail),
    },
  });
}

/** A LoRA adapter_config.json and a safetensors file whose header and offsets are consistent. */
export async function validateDownloaded(dir: string, repo: string): Promise<void> {
  const bad = (msg: string) => new HttpError(422, "adapter_invalid", `adapter "${repo}": ${msg}`, { field: "adapter_id" });
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await fs.readFile(path.join(dir, "adapter_config.json"), "utf8"));
  } catch (e) {
    throw bad(`adapter_config.json is not valid JSON (${(e as Error).message})`);
  }
  if (!config || typeof config !== "object") throw bad("adapter_config.json is not an object");
  if (config.peft_type !== undefined && config.peft_type !== "LORA") throw bad(`peft_type is "${String(config.peft_type)}"; only LORA adapters are served`);
  if (!Number.isInteger(config.r) || (config.r as number) < 1) throw bad("adapter_config.json has no positive integer r");

  // the header only: the weights stay on disk
  const fh = await fs.open(path.join(dir, "adapter_model.safetensors"), "r");
  let header: Record<string, { dtype?: string; shape?: number[]; data_offsets?: [number, number] }>;
  let dataLen: number;
  try {
    const fileSize = (await fh.stat()).size;
    if (fileSize < 8) throw bad("adapter_model.safetensors is truncated (no header)");
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen <= 0 || 8 + headerLen > fileSize) throw bad("adapter_model.safetensors has a header length past the end of the file");
    if (headerLen > 100 * 2 ** 20) throw bad(`adapter_model.safetensors has a ${headerLen}-byte header (over 100 MiB)`);
    const headerBuf = Buffer.alloc(headerLen);
    await fh.read(headerBuf, 0, headerLen, 8);
    try {
      header = JSON.parse(headerBuf.toString("utf8"));
    } catch {
      throw bad("adapter_model.safetensors has a header that is not JSON");
    }
    if (!header || typeof header !== "object" || Array.isArray(header)) throw bad("adapter_model.safetensors has a header that is not a JSON object");
    dataLen = fileSize - 8 - headerLen;
  } finally {
    await fh.close();
  }
  let tensors = 0;
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    tensors++;
    const off = t?.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off[0] > off[1] || off[1] > dataLen) {
      throw bad(`adapter_model.safetensors: tensor "${name}" has data offsets outside the file (truncated download?)`);
    }
  }
  if (tensors === 0) throw bad("adapter_model.safetensors holds no tensors");
}
