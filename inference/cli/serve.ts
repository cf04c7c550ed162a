/**
 * `npm run worker -- [options]` (= `cli serve`): the inference worker. Listens first (GET /health
 * answers 503 while the model loads, with `stage` downloading|loading and `progress`; /info says
 * `state: "loading"`, `load_progress`), then downloads a Hub base model, loads the model, registers
 * every adapter folder found under `--adapters` (and `${DATA_DIR}/adapters`, where the web app
 * writes uploaded adapters), preloads the `--preload` list, and answers 200 on /health.
 * Logs are one JSON object per line on stderr. SIGTERM/SIGINT: stop accepting, end in-flight
 * streams with a final event, exit 0.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, intOption, runCommand, UsageError, deviceOption, gpuMemoryFractionOption, openDevice, type ParsedArgs } from "./args";
import { getBackend } from "../kernels/index";
import type { EngineOptions } from "../engine/types";
import { AdapterRoots, scanAdapterDir } from "../adapters/local";
import { createWorkerServer, WorkerState } from "../server/app";
import type { Logger } from "../server/state";
import type { EngineApi } from "../engine/types";
import { DTYPE_CHOICES, isDtypeChoice } from "../model/weights";
import { HttpError } from "../server/errors";
import { hubModelOptionsFromEnv, isHubRepoArg, resolveModelArg } from "../hub/model";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DEMO_BASE = path.join(REPO_ROOT, "data/demo/base");
const DEMO_ADAPTERS = path.join(REPO_ROOT, "data/demo/adapters");
const DEMO_MODEL_ID = "loraland-mini";

const env = process.env;
const dataDir = env.DATA_DIR || ".data";

const OPTIONS: { name: string; value?: string; help: string; fallback: () => string | undefined }[] = [
  { name: "model", value: "DIR", help: "Hugging Face model folder (config.json, safetensors, tokenizer.json), or a Hub repo id owner/name[@rev] downloaded into DATA_DIR/models [env MODEL_DIR]", fallback: () => env.MODEL_DIR || path.relative(process.cwd(), DEMO_BASE) || "." },
  { name: "adapters", value: "DIR", help: "folder whose subfolders are PEFT adapters; the folder name is the adapter id [env ADAPTERS_DIR]", fallback: () => env.ADAPTERS_DIR || path.relative(process.cwd(), DEMO_ADAPTERS) },
  { name: "port", value: "N", help: "TCP port, 0 = any free one [env WORKER_PORT]", fallback: () => env.WORKER_PORT || "8081" },
  { name: "host", value: "HOST", help: "address to listen on", fallback: () => "127.0.0.1" },
  { name: "model-id", value: "ID", help: "model id served (default: the Hub repo id, a `model_id` file in the model folder, \"loraland-mini\" for the bundled demo, else the folder name)", fallback: () => undefined },
  { name: "backend", value: "native|reference", help: "CPU kernels", fallback: () => "native" },
  { name: "device", value: "auto|cpu|gpu", help: "auto: a hardware GPU (WebGPU) else the CPU; gpu: any WebGPU adapter, software ones included, or exit 2 [env DEVICE]", fallback: () => env.DEVICE || "auto" },
  { name: "gpu-memory-fraction", value: "F", help: "share of the GPU's memory the weights + KV pool may fill (the pool is sized from it and the device's buffer limits) [env GPU_MEMORY_FRACTION]", fallback: () => env.GPU_MEMORY_FRACTION || "0.9" },
  { name: "dtype", value: "auto|f32|bf16|f16|q8|q4", help: "base weights' format; auto: as stored when it fits next to the KV cache, else q8; q8/q4 are cached under DATA_DIR/weights [env MODEL_DTYPE]", fallback: () => env.MODEL_DTYPE || "auto" },
  { name: "slots", value: "N", help: "adapters resident at once", fallback: () => "8" },
  { name: "memory-budget-mb", value: "N", help: "byte budget of the resident adapters, MiB", fallback: () => "1024" },
  { name: "host-cache-mb", value: "N", help: "host-memory tier for evicted adapters, MiB (0 = drop them)", fallback: () => "2048" },
  { name: "kv-cache-mb", value: "N", help: "upper bound of the KV cache, MiB (default 2048 on the CPU; on a GPU none unless given)", fallback: () => "2048" },
  { name: "max-batch-tokens", value: "N", help: "tokens in one forward pass (prefill chunks + decodes)", fallback: () => "512" },
  { name: "max-running", value: "N", help: "sequences in the running batch", fallback: () => "16" },
  { name: "max-queue", value: "N", help: "requests waiting beyond the running ones; more get 429 + Retry-After", fallback: () => "64" },
  { name: "max-context", value: "N", help: "prompt + generated tokens of one request (default: the model's max_position_embeddings)", fallback: () => undefined },
  { name: "max-new-tokens", value: "N", help: "largest max_new_tokens / max_tokens a request may ask for", fallback: () => "1024" },
  { name: "max-best-of", value: "N", help: "most sequences a request's best_of may ask for", fallback: () => "1" },
  { name: "max-body-kb", value: "N", help: "request body size limit, KiB (413 beyond)", fallback: () => "1024" },
  { name: "headers-timeout-ms", value: "N", help: "a request's headers must arrive within N ms (408 beyond)", fallback: () => "10000" },
  { name: "body-timeout-ms", value: "N", help: "a request's headers + body must arrive within N ms (408 beyond; responses are never cut)", fallback: () => "30000" },
  { name: "max-connections", value: "N", help: "open connections served; beyond, 429 + Retry-After and the connection is closed", fallback: () => "512" },
  { name: "hub-max-mb", value: "N", help: "largest Hub adapter (both files), MiB; larger repos are refused", fallback: () => "1024" },
  { name: "hub-downloads", value: "N", help: "Hub downloads at once; more get 429 + Retry-After", fallback: () => "2" },
  { name: "preload", value: "a,b", help: "adapter ids loaded into slots at start", fallback: () => "" },
  { name: "hub-cache", value: "DIR", help: "where Hub adapters are downloaded [env DATA_DIR]", fallback: () => path.join(dataDir, "hub-cache") },
  { name: "adapter-root", value: "DIR", help: "more folders `adapter_source: \"local\"` may read (repeatable); --adapters and ${DATA_DIR}/adapters are always roots", fallback: () => undefined },
];

function usage(): string {
  const lines = ["usage: npm run worker -- [options]   (cli serve)", ""];
  for (const o of OPTIONS) {
    const d = o.fallback();
    lines.push(`  --${o.name}${o.value ? ` ${o.value}` : ""}`.padEnd(32) + o.help + (d ? ` (default: ${d})` : ""));
  }
  lines.push(`  --help`.padEnd(32) + "this text", "", "env: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN, DATA_DIR (default .data)");
  return lines.join("\n");
}

/** explicit id > `model_id` file in the folder > "loraland-mini" for the bundled demo > folder name */
export function modelIdFor(modelDir: string, explicit: string | undefined): string {
  if (explicit) return explicit;
  try {
    const fromFile = fs.readFileSync(path.join(modelDir, "model_id"), "utf8").trim();
    if (fromFile) return fromFile;
  } catch {
    // no model_id file
  }
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  if (real(modelDir) === real(DEMO_BASE)) return DEMO_MODEL_ID;
  return path.basename(path.resolve(modelDir));
}

const log: Logger = (event, fields = {}) => {
  process.stderr.write(`${JSON.stringify({ ts: new Date().toISOString(), level: event.includes("fail") || event.includes("error") ? "error" : "info", event, ...fields })}\n`);
};

function value(args: ParsedArgs, name: string): string | undefined {
  return args.values[name] ?? OPTIONS.find((o) => o.name === name)?.fallback();
}

function envOrOptionInt(args: ParsedArgs, name: string, min = 0): number | undefined {
  const v = value(args, name);
  if (v === undefined) return undefined;
  return intOption({ ...args, values: { ...args.values, [name]: v } }, name, 0, min);
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  let args: ParsedArgs;
  const code = await runCommand(async () => {
    args = parseArgs(argv, { string: OPTIONS.filter((o) => o.name !== "adapter-root").map((o) => o.name), multiple: ["adapter-root"] });
    if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"`);
    return -1;
  });
  if (code !== -1) return code;
  try {
    return await serve(args!);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

async function serve(args: ParsedArgs): Promise<number> {
  // a Hub repo id (owner/name[@rev], not a folder) is downloaded into DATA_DIR/models (or found
  // there) after the server listens, so /health reports the download's progress
  const modelArg = value(args, "model")!;
  const hubRepo = isHubRepoArg(modelArg) ? modelArg : null;
  let modelDir = path.resolve(hubRepo ? path.join(dataDir, "models") : modelArg);
  const adaptersDir = path.resolve(value(args, "adapters")!);
  const port = envOrOptionInt(args, "port", 0)!;
  if (port > 65535) throw new UsageError(`option --port must be <= 65535, got ${port}`);
  const host = value(args, "host")!;
  const backend = value(args, "backend");
  if (backend !== "native" && backend !== "reference") throw new UsageError(`option --backend must be native or reference, got "${backend}"`);
  const deviceChoice = deviceOption(value(args, "device"));
  const gpuMemoryFraction = gpuMemoryFractionOption(value(args, "gpu-memory-fraction"));
  const dtype = value(args, "dtype");
  if (!isDtypeChoice(dtype)) throw new UsageError(`option --dtype must be one of ${DTYPE_CHOICES.join(", ")}, got "${dtype}"`);
  const mib = (name: string) => envOrOptionInt(args, name, 0)! * 2 ** 20;
  const maxContextOpt = envOrOptionInt(args, "max-context", 2);
  const maxRunning = envOrOptionInt(args, "max-running", 1)!;
  const maxQueue = envOrOptionInt(args, "max-queue", 0)!;
  const maxNewTokens = envOrOptionInt(args, "max-new-tokens", 1)!;
  const hubCache = path.resolve(value(args, "hub-cache")!);
  const uploads = path.resolve(dataDir, "adapters");
  const roots = new AdapterRoots([adaptersDir, uploads, ...(args.multi["adapter-root"] ?? [])]);
  const preload = (value(args, "preload") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  if (!hubRepo && !fs.existsSync(path.join(modelDir, "config.json"))) {
    throw new UsageError(`--model ${modelDir} has no config.json (give a Hugging Face model folder)`);
  }
  const modelId = hubRepo ? args.values["model-id"] || hubRepo.split("@")[0]! : modelIdFor(modelDir, args.values["model-id"]);
  // before listening: --device gpu without a usable adapter exits 2 with the reason
  const device = await openDevice(deviceChoice, getBackend(backend), (line) => log("device", { message: line }), gpuMemoryFraction);
  const engineOpts = {
    modelDir,
    backend: device.backend as EngineOptions["backend"],
    dtype,
    weightCacheDir: path.resolve(dataDir, "weights"),
    adapterSlots: envOrOptionInt(args, "slots", 1),
    adapterBudgetBytes: mib("memory-budget-mb"),
    hostCacheBytes: mib("host-cache-mb"),
    // on a GPU the pool is sized from the device (webgpu/memory.ts) unless a cap is given
    kvCacheBytes: device.gpu && args.values["kv-cache-mb"] === undefined ? undefined : mib("kv-cache-mb"),
    maxBatchTokens: envOrOptionInt(args, "max-batch-tokens", 1),
    maxRunning,
    maxContext: maxContextOpt,
  };

  const state = new WorkerState({
    modelId,
    modelDir,
    maxNewTokens,
    maxBestOf: envOrOptionInt(args, "max-best-of", 1)!,
    maxContext: maxContextOpt ?? Number.MAX_SAFE_INTEGER,
    maxRunning,
    maxQueue,
    maxBodyBytes: envOrOptionInt(args, "max-body-kb", 1)! * 1024,
    headersTimeoutMs: envOrOptionInt(args, "headers-timeout-ms", 1),
    bodyTimeoutMs: envOrOptionInt(args, "body-timeout-ms", 1),
    maxConnections: envOrOptionInt(args, "max-connections", 1),
    roots,
    hub: {
      endpoint: env.HF_ENDPOINT || "https://huggingface.co", cacheDir: hubCache, defaultToken: env.HF_TOKEN || null,
      maxRepoBytes: mib("hub-max-mb"), maxConcurrent: envOrOptionInt(args, "hub-downloads", 1),
    },
    version: "0.1.0",
    infoExtra: { max_batch_tokens: engineOpts.maxBatchTokens, adapter_slots: engineOpts.adapterSlots, adapter_budget_bytes: engineOpts.adapterBudgetBytes },
    log,
  });
  // one bad request must not take the worker down: log what escaped a handler and go on
  process.on("unhandledRejection", (e) => log("unhandled_rejection", { error: e instanceof Error ? e.stack ?? e.message : String(e) }));
  const server = createWorkerServer(state);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const boundPort = typeof addr === "object" && addr ? addr.port : port;
  log("listening", { url: `http://${host}:${boundPort}`, host, port: boundPort, model_id: modelId });

  let engine: EngineApi | null = null;
  let stopping = false;
  const exited = new Promise<number>((resolve) => {
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      state.phase = "stopping";
      log("shutting_down", { signal, in_flight: state.inFlight });
      server.close();
      server.closeIdleConnections();
      await engine?.shutdown();
      // in-flight responses end with their final event; then the connections go
      const deadline = Date.now() + 10_000;
      while (state.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      server.closeAllConnections();
      device.close();
      log("stopped", {});
      // stopped mid-download or mid-load: nothing waits for it (a cut download resumes next start)
      if (!engine) setTimeout(() => process.exit(0), 200).unref();
      resolve(0);
    };
    process.once("SIGTERM", () => void stop("SIGTERM"));
    process.once("SIGINT", () => void stop("SIGINT"));
  });

  const fail = (event: string, e: unknown, code: number): number => {
    state.setFailed(e);
    log(event, { model_dir: modelDir, error: e instanceof Error ? e.message : String(e) });
    server.close();
    server.closeAllConnections();
    device.close();
    return code;
  };
  let hubModel: { repo?: string; sha?: string } = {};
  if (hubRepo) {
    state.loadProgress = { stage: "downloading", fraction: null, detail: hubRepo };
    try {
      const r = await resolveModelArg(hubRepo, {
        ...hubModelOptionsFromEnv(env), dataDir: path.resolve(dataDir),
        log: (line) => log("model_download", { message: line }),
        onProgress: (p) => (state.loadProgress = { stage: "downloading", fraction: p.fraction, detail: `${hubRepo} ${p.file}` }),
      });
      hubModel = r;
      modelDir = path.resolve(r.dir);
      engineOpts.modelDir = modelDir;
      state.setModelDir(modelDir);
    } catch (e) {
      // a usage error as before listening (exit 2): the repo id, token or endpoint is wrong
      const err = e instanceof HttpError ? new UsageError(`--model ${modelArg} (not a folder here, so a Hub repo id): ${e.message}`) : e;
      process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
      return fail("model_download_failed", err, e instanceof HttpError ? 2 : 1);
    }
  }

  log("model_loading", { model_dir: modelDir, model_id: modelId, backend, device: device.label, source: modelDir === path.resolve(DEMO_BASE) ? "bundled demo (data/demo/base)" : hubModel.repo ? `Hub ${hubModel.repo}@${hubModel.sha}` : "local folder" });
  const t0 = Date.now();
  state.loadProgress = { stage: "loading", fraction: 0 };
  let lastLogged = 0;
  try {
    const { Engine } = await import("../engine/engine");
    engine = await Engine.create({
      ...engineOpts,
      log: (line: string) => log("engine", { message: line }),
      onLoadProgress: (fraction) => {
        state.loadProgress = { stage: "loading", fraction };
        // a log line per tenth: the load is visible in the log too
        if (Math.floor(fraction * 10) > Math.floor(lastLogged * 10)) log("model_load_progress", { percent: Math.floor(fraction * 100) });
        lastLogged = fraction;
      },
    });
  } catch (e) {
    return fail("model_load_failed", e, 1);
  }
  if (stopping) {
    await engine.shutdown();
    return exited;
  }
  const m = engine.model;
  log("model_loaded", { model_id: modelId, architecture: m.architecture, dtype: m.storedDtype, weight_dtype: m.weights?.dtype, weight_dtype_reason: m.weights?.reason, weight_source: m.weights?.source, weight_cache: m.weights?.cacheFile ?? null, layers: m.numLayers, parameters: m.parameters, backend: m.backend, load_ms: Date.now() - t0 });

  const seen = new Set<string>();
  for (const dir of [adaptersDir, uploads]) {
    for (const a of await scanAdapterDir(dir)) {
      if (seen.has(a.id)) {
        log("adapter_skipped", { id: a.id, dir: a.dir, reason: "an adapter with this id is already registered" });
        continue;
      }
      let real: string;
      try {
        real = await roots.resolve(a.dir, "adapters"); // a symlink out of the roots is not served
      } catch (e) {
        log("adapter_skipped", { id: a.id, dir: a.dir, reason: e instanceof Error ? e.message : String(e) });
        continue;
      }
      seen.add(a.id);
      const info = await engine.registerAdapter(a.id, real, "local");
      log(info.state === "failed" ? "adapter_failed" : "adapter_found", { id: a.id, dir: a.dir, rank: info.rank, targets: info.targetModules, bytes: info.bytes, state: info.state, error: info.error });
    }
  }
  for (const id of preload) {
    try {
      await engine.preloadAdapter(id);
      log("adapter_preloaded", { id });
    } catch (e) {
      log("adapter_preload_failed", { id, error: e instanceof Error ? e.message : String(e) });
    }
  }
  state.setEngine(engine);
  const adapters = engine.listAdapters();
  log("ready", { model_id: modelId, load_ms: state.loadMs, adapters: adapters.map((a) => a.id), failed: adapters.filter((a) => a.state === "failed").map((a) => a.id), roots: roots.list() });
  const rc = await exited;
  setTimeout(() => process.exit(rc), 500).unref();
  return rc;
}
