/**
 * Base models from the Hugging Face Hub: `--model owner/name[@rev]` (an argument that is not an
 * existing folder and looks like a repo id). The revision is pinned to a commit sha with
 * `GET {endpoint}/api/models/{repo}/revision/{rev}`; config, tokenizer files and the safetensors
 * weights (model.safetensors, or the index and its shards) come from
 * `{endpoint}/{repo}/resolve/{sha}/{file}` through the shared downloader (./download.ts: Range
 * resume, sha256 check). Layout under `{dataDir}/models/{owner}--{name}/`:
 *   refs/{rev}        the sha `rev` resolved to (a later start uses it without the network)
 *   .partial-{sha}/   files so far (`*.incomplete` while arriving): kept when cut, to resume
 *   {sha}/            the complete model, renamed into place in one step
 */
import fs from "node:fs/promises";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { HttpError } from "../server/errors";
import { downloadFile } from "./download";

const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9][A-Za-z0-9._/-]*)?$/;
const SHA = /^[0-9a-f]{40}$/;
/** small files taken when the repo has them (config.json is required) */
const SIDE_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json"];

export interface HubModelOptions {
  endpoint?: string;
  token?: string | null;
  dataDir: string;
  timeoutMs?: number;
  /** progress lines (default: stderr) */
  log?: (line: string) => void;
  /** download progress of the weights: the fraction of the safetensors files done (by file count, each file by bytes) */
  onProgress?: (p: DownloadProgress) => void;
}

export interface DownloadProgress {
  file: string;
  /** 0..1 over the weight files; null until the first weight file's size is known */
  fraction: number | null;
  done: number;
  total: number | null;
}

/** `--model` is a Hub repo id: not an existing folder, and owner/name[@rev]. */
export function isHubRepoArg(arg: string): boolean {
  if (existsSync(arg) && statSync(arg).isDirectory()) return false;
  return REPO_ID.test(arg) && !arg.split(/[/@]/).some((p) => p === "." || p === "..");
}

export interface ResolvedModel {
  dir: string;
  /** set when `--model` was a Hub repo id */
  repo?: string;
  sha?: string;
}

/** `--model`: a folder as it is, or a Hub repo id downloaded (or found in the cache). */
export async function resolveModelArg(arg: string, opts: HubModelOptions): Promise<ResolvedModel> {
  if (!isHubRepoArg(arg)) return { dir: arg };
  const [repo, rev] = arg.split("@") as [string, string | undefined];
  return fetchHubModel(repo, rev ?? "main", opts);
}

/** The defaults the CLI commands use: HF_ENDPOINT, HF_TOKEN, DATA_DIR (default .data). */
export function hubModelOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): HubModelOptions {
  return { endpoint: env.HF_ENDPOINT || undefined, token: env.HF_TOKEN || null, dataDir: path.resolve(env.DATA_DIR || ".data") };
}

function gatedHelp(repo: string, endpoint: string, status: number, token: string | null): string {
  const page = `${endpoint}/${repo}`;
  return token
    ? `the Hub refused "${repo}" with HTTP ${status} for the token in HF_TOKEN: check the name; if the model is gated, accept its license on ${page} with that account; check that the token may read it`
    : `the Hub refused "${repo}" with HTTP ${status}: it is gated or private (the Hub answers the same for a repo that does not exist: check the name). Accept the license on ${page}, create a read token at ${endpoint}/settings/tokens and set HF_TOKEN=<token>`;
}

export async function fetchHubModel(repo: string, rev: string, opts: HubModelOptions): Promise<ResolvedModel> {
  const endpoint = (opts.endpoint || "https://huggingface.co").replace(/\/+$/, "");
  const token = opts.token ?? null;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const root = path.join(opts.dataDir, "models", repo.replace("/", "--"));
  const refFile = path.join(root, "refs", rev.replace(/\//g, "%2F"));

  // the cache first: a pinned sha, or the sha this rev resolved to before
  const cachedSha = SHA.test(rev) ? rev : await fs.readFile(refFile, "utf8").then((s) => s.trim(), () => null);
  if (cachedSha && SHA.test(cachedSha) && existsSync(path.join(root, cachedSha, "config.json"))) {
    log(`hub: ${repo}@${rev} from the cache (${path.join(root, cachedSha)})`);
    return { dir: path.join(root, cachedSha), repo, sha: cachedSha };
  }

  const info = await revisionInfo(repo, rev, endpoint, token, opts.timeoutMs);
  const sha = info.sha;
  const dest = path.join(root, sha);
  await fs.mkdir(path.join(root, "refs"), { recursive: true });
  if (!existsSync(path.join(dest, "config.json"))) {
    const partial = path.join(root, `.partial-${sha}`);
    await fs.mkdir(partial, { recursive: true });
    const unlock = await lock(`${partial}.lock`, repo);
    try {
      // weight files in order; progress = (files finished + this file's fraction) / files
      let weightFiles: string[] = [];
      const get = async (file: string) => {
        const final = path.join(partial, file);
        if (existsSync(final)) return; // done (and verified) in an earlier run
        await fs.mkdir(path.dirname(final), { recursive: true });
        const part = `${final}.incomplete`;
        const resumedFrom = await fs.stat(part).then((s) => s.size, () => 0);
        let lastLogged = resumedFrom;
        if (resumedFrom > 0) log(`hub: ${repo} ${file}: resuming at ${resumedFrom} bytes`);
        const size = await downloadFile(`${endpoint}/${repo}/resolve/${sha}/${file.split("/").map(encodeURIComponent).join("/")}`, part, {
          token, timeoutMs: opts.timeoutMs ?? 600_000, resume: true,
          errors: {
            what: `${file} of "${repo}"`, field: "model",
            unauthorized: (s) => new HttpError(401, "hub_unauthorized", gatedHelp(repo, endpoint, s, token), { field: "HF_TOKEN" }),
            notFound: () => new HttpError(404, "model_not_found", `the Hub has no ${file} in "${repo}" at ${sha}`, { field: "model" }),
          },
          onProgress: (done, total) => {
            const w = weightFiles.indexOf(file);
            if (w >= 0) opts.onProgress?.({ file, done, total, fraction: total ? (w + Math.min(1, done / total)) / weightFiles.length : null });
            if (done - lastLogged >= 8 << 20 || done === total) {
              lastLogged = done;
              log(`hub: ${repo} ${file}: ${mib(done)}${total ? ` / ${mib(total)} (${((100 * done) / total).toFixed(0)}%)` : ""}`);
            }
          },
        });
        await fs.rename(part, final);
        log(`hub: ${repo} ${file}: done, ${mib(size)}, verified`);
      };
      const names = new Set(info.files);
      if (!names.has("config.json")) throw new HttpError(422, "model_invalid", `"${repo}" has no config.json at ${rev}; it is not a transformers model`, { field: "model" });
      for (const f of SIDE_FILES) if (names.has(f)) await get(f);
      if (names.has("model.safetensors")) {
        weightFiles = ["model.safetensors"];
        await get("model.safetensors");
      } else if (names.has("model.safetensors.index.json")) {
        await get("model.safetensors.index.json");
        const index = JSON.parse(await fs.readFile(path.join(partial, "model.safetensors.index.json"), "utf8")) as { weight_map?: Record<string, string> };
        const shards = [...new Set(Object.values(index.weight_map ?? {}))];
        if (shards.length === 0) throw new HttpError(422, "model_invalid", `"${repo}": model.safetensors.index.json lists no shards`, { field: "model" });
        weightFiles = shards;
        for (const s of shards) {
          if (s.split("/").some((p) => p === ".." || p === "") || path.isAbsolute(s)) throw new HttpError(422, "model_invalid", `"${repo}": shard name "${s}" is not a plain file name`, { field: "model" });
          await get(s);
        }
      } else {
        throw new HttpError(422, "model_invalid", `"${repo}" has no model.safetensors or model.safetensors.index.json at ${rev} (only safetensors weights are loaded, not .bin)`, { field: "model" });
      }
      try {
        await fs.rename(partial, dest);
      } catch (e) {
        if (!existsSync(path.join(dest, "config.json"))) throw e; // else another process finished first
        await fs.rm(partial, { recursive: true, force: true });
      }
    } finally {
      await unlock();
    }
  }
  // the ref last: it only ever names a complete folder
  const tmpRef = `${refFile}.${process.pid}.tmp`;
  await fs.writeFile(tmpRef, sha);
  await fs.rename(tmpRef, refFile);
  log(`hub: ${repo}@${rev} = ${sha} in ${dest}`);
  return { dir: dest, repo, sha };
}

/** One downloader per model at a time (two would append to the same partial files): a lock file naming the pid; a dead pid's lock is taken over. */
async function lock(file: string, repo: string): Promise<() => Promise<void>> {
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await fs.open(file, "wx");
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => fs.rm(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw e;
      const pid = Number(await fs.readFile(file, "utf8").catch(() => ""));
      let alive = false;
      try {
        alive = Number.isInteger(pid) && pid > 0 && (process.kill(pid, 0), true);
      } catch {
        alive = false; // no such process: a crashed download
      }
      if (alive) throw new HttpError(409, "model_downloading", `"${repo}" is being downloaded by process ${pid}; wait for it to finish (or stop it) and run again`, { field: "model" });
      await fs.rm(file, { force: true });
    }
  }
}

function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

async function revisionInfo(repo: string, rev: string, endpoint: string, token: string | null, timeoutMs?: number): Promise<{ sha: string; files: string[] }> {
  const url = `${endpoint}/api/models/${repo}/revision/${encodeURIComponent(rev)}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(timeoutMs ?? 60_000) });
  } catch (e) {
    throw new HttpError(424, "hub_unreachable", `could not reach ${endpoint} for "${repo}": ${(e as Error).message} (set HF_ENDPOINT for a mirror; a downloaded model is used from the cache without the network)`, { field: "model" });
  }
  if (res.status === 401 || res.status === 403) throw new HttpError(401, "hub_unauthorized", gatedHelp(repo, endpoint, res.status, token), { field: "HF_TOKEN" });
  if (res.status === 404) throw new HttpError(404, "model_not_found", `the Hub has no model "${repo}" at revision "${rev}" (check the name; a private repo also needs HF_TOKEN)`, { field: "model" });
  if (!res.ok) throw new HttpError(424, "hub_error", `the Hub answered HTTP ${res.status} for ${url}`, { field: "model" });
  const body = (await res.json()) as { sha?: unknown; siblings?: { rfilename?: unknown }[] };
  if (typeof body.sha !== "string" || !SHA.test(body.sha)) throw new HttpError(424, "hub_error", `the Hub's answer for "${repo}" at "${rev}" has no commit sha`, { field: "model" });
  const files = (body.siblings ?? []).map((s) => s.rfilename).filter((f): f is string => typeof f === "string");
  return { sha: body.sha, files };
}
