import { readFile } from "node:fs/promises";
import path from "node:path";
import { loadPeftAdapter } from "../adapters/peft";
import type { LoraWeights } from "../adapters/lora-weights";
import { getBackend } from "../kernels";
import { loadModel } from "../model/load";
import { promptLogitsAsync } from "../model/prompt-batch";
import type { Backend } from "../kernels/backend";
import { deviceOption, modelFolder, dtypeOption, openDevice, parseArgs, runCommand, UsageError, weightCacheDir } from "./args";

interface LogitsRequest {
  ids: number[];
  adapter: string | null;
}

function parseRequests(text: string, file: string): LogitsRequest[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError(`--requests ${file} is not valid JSON`);
  }
  if (!Array.isArray(raw) || raw.length === 0) throw new UsageError(`--requests ${file} must be a non-empty JSON array`);
  return raw.map((r, i) => {
    const req = r as Partial<LogitsRequest>;
    if (!Array.isArray(req.ids) || req.ids.length === 0 || !req.ids.every((x) => Number.isInteger(x) && x >= 0)) {
      throw new UsageError(`request ${i}: "ids" must be a non-empty list of token ids`);
    }
    if (req.adapter != null && typeof req.adapter !== "string") throw new UsageError(`request ${i}: "adapter" must be a directory or null`);
    return { ids: req.ids, adapter: req.adapter ?? null };
  });
}

/** `cli logits --model DIR|owner/name --requests FILE [--device auto|cpu|gpu]`: all requests in ONE forward pass -> [{"last_logits":[...]}] */
export function run(argv: string[]): Promise<number> {
  return runCommand(async () => {
    const args = parseArgs(argv, { string: ["model", "requests", "backend", "dtype", "device"], required: ["model", "requests"] });
    const backendName = args.values.backend ?? "native";
    if (backendName !== "native" && backendName !== "reference") throw new UsageError(`--backend must be native or reference`);
    const dtype = dtypeOption(args.values.dtype);
    const deviceChoice = deviceOption(args.values.device);
    let text: string;
    try {
      text = await readFile(args.values.requests!, "utf8");
    } catch {
      throw new UsageError(`cannot read --requests ${args.values.requests}`);
    }
    const requests = parseRequests(text, args.values.requests!);
    const device = await openDevice(deviceChoice, getBackend(backendName));
    try {
      return await logitsOn(device.backend as Backend<unknown, unknown, unknown>, await modelFolder(args.values.model!), dtype, requests);
    } finally {
      device.close(); // the process exits once Dawn's device and instance are gone
    }
  });
}

async function logitsOn(backend: Backend<unknown, unknown, unknown>, modelDir: string, dtype: ReturnType<typeof dtypeOption>, requests: LogitsRequest[]): Promise<number> {
  const model = await loadModel(modelDir, { backend, weights: { dtype, cacheDir: weightCacheDir() } });
  const w = model.weights.load;
  if (w) process.stderr.write(`weights: ${w.dtype} (${w.reason}; ${w.source})\n`);
  for (const [i, r] of requests.entries()) {
    const bad = r.ids.find((id) => id >= model.config.vocabSize);
    if (bad !== undefined) throw new UsageError(`request ${i}: token id ${bad} is outside the vocabulary (${model.config.vocabSize})`);
  }
  const adapters = new Map<string, LoraWeights>();
  for (const r of requests) {
    if (r.adapter && !adapters.has(r.adapter)) {
      adapters.set(r.adapter, await loadPeftAdapter(r.adapter, path.basename(r.adapter), model.config));
    }
  }
  const logits = await promptLogitsAsync(model, requests.map((r) => ({ ids: r.ids, adapter: r.adapter ? adapters.get(r.adapter)! : null })));
  process.stdout.write(`${JSON.stringify(logits.map((l) => ({ last_logits: Array.from(l) })))}\n`);
  return 0;
}
