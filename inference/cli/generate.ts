/**
 * `cli generate --model DIR --requests FILE [--backend native|reference] [--max-batch-tokens N]
 *  [--num-blocks N] [--block-size N]`
 *
 * FILE: `[{"ids":[...],"adapter":"<adapter dir>"|null,"max_new_tokens":N,"ignore_eos"?:bool,
 *   "temperature"?,"top_k"?,"top_p"?,"repetition_penalty"?,"frequency_penalty"?,
 *   "presence_penalty"?,"seed"?,"stop"?:[...]}, ...]`
 * All requests run concurrently through the engine's scheduler. Prints one JSON line
 * `[{"ids":[...],"text":"..."}, ...]` in request order: the generated ids (ending with the EOS id
 * when generation stopped on it) and the text the streaming detokenizer emitted. A request that
 * failed gets `"error":{"code","message"}` instead and the exit code is 1.
 */
import fs from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { Engine } from "../engine/engine";
import { deviceOption, dtypeOption, gpuMemoryFractionOption, modelFolder, openDevice, UsageError as DeviceUsageError, weightCacheDir } from "./args";
import { getBackend } from "../kernels/index";
import type { DeviceChoice } from "../webgpu/select";
import type { DtypeChoice } from "../model/weights";
import type { EngineOptions, GenerateRequest } from "../engine/types";

class UsageError extends Error {}

interface FileRequest {
  ids: number[];
  adapter: string | null;
  request: Omit<GenerateRequest, "promptIds" | "adapterId">;
}

const USAGE = "usage: cli generate --model DIR|owner/name --requests FILE [--backend native|reference] [--dtype auto|f32|bf16|f16|q8|q4] [--device auto|cpu|gpu] [--gpu-memory-fraction F] [--max-batch-tokens N] [--num-blocks N] [--block-size N]";

export async function run(argv: string[]): Promise<number> {
  let opts: { model: string; requests: string; backend: "native" | "reference"; dtype: DtypeChoice; device: DeviceChoice; gpuMemoryFraction: number; maxBatchTokens?: number; numBlocks?: number; blockSize?: number };
  let reqs: FileRequest[];
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        model: { type: "string" },
        requests: { type: "string" },
        backend: { type: "string" },
        dtype: { type: "string" },
        device: { type: "string" },
        "gpu-memory-fraction": { type: "string" },
        "max-batch-tokens": { type: "string" },
        "num-blocks": { type: "string" },
        "block-size": { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    });
    if (!values.model) throw new UsageError(`--model is required; ${USAGE}`);
    if (!values.requests) throw new UsageError(`--requests is required; ${USAGE}`);
    const backend = values.backend ?? "native";
    if (backend !== "native" && backend !== "reference") throw new UsageError(`--backend must be native or reference, got "${backend}"`);
    opts = {
      model: values.model,
      requests: values.requests,
      backend,
      dtype: dtypeOption(values.dtype),
      device: deviceOption(values.device),
      gpuMemoryFraction: gpuMemoryFractionOption(values["gpu-memory-fraction"]),
      maxBatchTokens: optInt(values["max-batch-tokens"], "--max-batch-tokens"),
      numBlocks: optInt(values["num-blocks"], "--num-blocks"),
      blockSize: optInt(values["block-size"], "--block-size"),
    };
    opts.model = await modelFolder(opts.model); // a Hub repo id: downloaded (or from the cache)
    if (!existsSync(path.join(opts.model, "config.json"))) throw new UsageError(`--model ${opts.model} is not a model directory (no config.json)`);
    reqs = parseRequests(await readJson(opts.requests));
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`generate: ${msg.split("\n")[0]}\n`);
    return 2;
  }

  let device: Awaited<ReturnType<typeof openDevice>>;
  try {
    device = await openDevice(opts.device, getBackend(opts.backend), undefined, opts.gpuMemoryFraction);
  } catch (e) {
    if (!(e instanceof DeviceUsageError)) throw e; // --device gpu without a usable adapter
    process.stderr.write(`generate: ${e.message}\n`);
    return 2;
  }
  try {
    return await generateOn(device.backend, opts, reqs);
  } finally {
    device.close(); // Dawn's device and instance released: the process exits after printing
  }
}

async function generateOn(backend: EngineOptions["backend"], opts: { model: string; dtype: DtypeChoice; maxBatchTokens?: number; numBlocks?: number; blockSize?: number }, reqs: FileRequest[]): Promise<number> {
  const engine = await Engine.create({
    modelDir: opts.model,
    backend,
    dtype: opts.dtype,
    weightCacheDir: weightCacheDir(),
    maxBatchTokens: opts.maxBatchTokens,
    numBlocks: opts.numBlocks,
    blockSize: opts.blockSize,
  });
  try {
    // one registration per distinct adapter directory; its id is the resolved path
    const ids = new Map<string, string>();
    for (const r of reqs) {
      if (r.adapter === null || ids.has(r.adapter)) continue;
      const id = adapterIdFor(r.adapter);
      ids.set(r.adapter, id);
      await engine.registerAdapter(id, path.resolve(r.adapter), "local");
    }
    let failed = false;
    const results = await Promise.all(reqs.map(async (r) => {
      const out: { ids: number[]; text: string; error?: { code: string; message: string } } = { ids: [], text: "" };
      for await (const ev of engine.generate({ ...r.request, promptIds: r.ids, adapterId: r.adapter === null ? null : ids.get(r.adapter)! })) {
        if (ev.type === "token") {
          out.ids.push(ev.id);
          out.text += ev.text;
        } else if (ev.type === "error") {
          out.error = { code: ev.code, message: ev.message };
          failed = true;
        }
      }
      return out;
    }));
    process.stdout.write(`${JSON.stringify(results)}\n`);
    return failed ? 1 : 0;
  } finally {
    await engine.shutdown();
  }
}

/** a stable adapter id derived from its directory */
export function adapterIdFor(dir: string): string {
  return path.resolve(dir);
}

function optInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got "${v}"`);
  return n;
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read --requests ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--requests ${file} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function parseRequests(data: unknown): FileRequest[] {
  if (!Array.isArray(data) || data.length === 0) throw new UsageError("the requests file must hold a non-empty JSON array");
  return data.map((raw, i) => {
    const at = (field: string) => `request ${i}: ${field}`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new UsageError(`request ${i} must be an object`);
    const r = raw as Record<string, unknown>;
    const num = (field: string, check: (n: number) => boolean, what: string): number | undefined => {
      const v = r[field];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== "number" || !check(v)) throw new UsageError(`${at(field)} must be ${what}`);
      return v;
    };
    if (!Array.isArray(r.ids) || r.ids.length === 0 || !r.ids.every((x) => Number.isInteger(x) && (x as number) >= 0)) {
      throw new UsageError(`${at("ids")} must be a non-empty array of token ids`);
    }
    if (r.adapter !== undefined && r.adapter !== null && typeof r.adapter !== "string") throw new UsageError(`${at("adapter")} must be a directory path or null`);
    const maxNew = num("max_new_tokens", (n) => Number.isInteger(n) && n >= 1, "an integer >= 1");
    if (maxNew === undefined) throw new UsageError(`${at("max_new_tokens")} is required`);
    if (r.ignore_eos !== undefined && typeof r.ignore_eos !== "boolean") throw new UsageError(`${at("ignore_eos")} must be a boolean`);
    if (r.stop !== undefined && (!Array.isArray(r.stop) || !r.stop.every((s) => typeof s === "string"))) throw new UsageError(`${at("stop")} must be an array of strings`);
    const temperature = num("temperature", (n) => n >= 0 && Number.isFinite(n), "a number >= 0");
    return {
      ids: r.ids as number[],
      adapter: (r.adapter as string | null | undefined) ?? null,
      request: {
        maxNewTokens: maxNew,
        ignoreEos: (r.ignore_eos as boolean | undefined) ?? false,
        stop: r.stop as string[] | undefined,
        sampling: {
          temperature,
          topK: num("top_k", (n) => Number.isInteger(n) && n >= 0, "an integer >= 0"),
          topP: num("top_p", (n) => n > 0 && n <= 1, "a number in (0, 1]"),
          repetitionPenalty: num("repetition_penalty", (n) => n > 0 && Number.isFinite(n), "a number > 0"),
          frequencyPenalty: num("frequency_penalty", (n) => Math.abs(n) <= 2, "a number in [-2, 2]"),
          presencePenalty: num("presence_penalty", (n) => Math.abs(n) <= 2, "a number in [-2, 2]"),
          seed: num("seed", (n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff, "an integer in [0, 2^32)"),
        },
      },
    };
  });
}
