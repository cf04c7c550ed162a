/**
 * A small argv parser for the CLI commands: `--name value` and `--flag`. Bad or missing
 * arguments throw UsageError, which `fail` turns into exit code 2 and a one-line message.
 */
import path from "node:path";
import { DTYPE_CHOICES, isDtypeChoice, type DtypeChoice } from "../model/weights";
import type { Backend } from "../kernels/backend";
import { WebGpuUnavailable } from "../webgpu/device";
import { HttpError } from "../server/errors";
import { hubModelOptionsFromEnv, resolveModelArg } from "../hub/model";
import { parseGpuMemoryFraction } from "../webgpu/memory";
import { chooseDevice, DEVICE_CHOICES, isDeviceChoice, type ChosenDevice, type DeviceChoice } from "../webgpu/select";

export class UsageError extends Error {}

export interface ArgSpec {
  /** options that take a value */
  string?: string[];
  /** options without a value */
  boolean?: string[];
  /** options that must be present */
  required?: string[];
  /** options that may repeat (collected into an array under `multi`) */
  multiple?: string[];
}

export interface ParsedArgs {
  values: Record<string, string | undefined>;
  flags: Record<string, boolean>;
  multi: Record<string, string[]>;
  positional: string[];
}

export function parseArgs(argv: string[], spec: ArgSpec): ParsedArgs {
  const takesValue = new Set([...(spec.string ?? []), ...(spec.multiple ?? [])]);
  const flagNames = new Set(spec.boolean ?? []);
  const out: ParsedArgs = { values: {}, flags: {}, multi: {}, positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) {
      out.positional.push(arg);
      continue;
    }
    let name = arg.slice(2);
    let inline: string | undefined;
    const eq = name.indexOf("=");
    if (eq >= 0) {
      inline = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (flagNames.has(name)) {
      out.flags[name] = inline === undefined ? true : inline !== "false";
      continue;
    }
    if (!takesValue.has(name)) throw new UsageError(`unknown option --${name}`);
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && value.startsWith("--"))) {
      throw new UsageError(`option --${name} needs a value`);
    }
    if (spec.multiple?.includes(name)) (out.multi[name] ??= []).push(value);
    else out.values[name] = value;
  }
  for (const name of spec.required ?? []) {
    if (out.values[name] === undefined && !out.multi[name]) throw new UsageError(`missing required option --${name}`);
  }
  return out;
}

/** Parse an integer option; throws UsageError naming the option. */
export function intOption(args: ParsedArgs, name: string, fallback: number, min = 0): number {
  const raw = args.values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`option --${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

/** Runs a command body, mapping UsageError to exit code 2 with one line on stderr. */
export async function runCommand(body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

/** `--dtype`: the base weights' format (default auto); throws UsageError naming the option. */
export function dtypeOption(raw: string | undefined): DtypeChoice {
  const v = raw ?? "auto";
  if (!isDtypeChoice(v)) throw new UsageError(`option --dtype must be one of ${DTYPE_CHOICES.join(", ")}, got "${v}"`);
  return v;
}

/** Where converted (q8/q4) weights are cached: DATA_DIR/weights (DATA_DIR defaults to .data). */
export function weightCacheDir(): string {
  return path.resolve(process.env.DATA_DIR || ".data", "weights");
}

/** `--device`: where the engine computes (default auto: a hardware GPU, else the CPU). */
export function deviceOption(raw: string | undefined): DeviceChoice {
  const v = raw ?? "auto";
  if (!isDeviceChoice(v)) throw new UsageError(`option --device must be one of ${DEVICE_CHOICES.join(", ")}, got "${v}"`);
  return v;
}

/** `--gpu-memory-fraction` (else GPU_MEMORY_FRACTION, else 0.9): the device memory weights + KV pool may fill. */
export function gpuMemoryFractionOption(raw: string | undefined): number {
  try {
    return parseGpuMemoryFraction(raw ?? process.env.GPU_MEMORY_FRACTION, raw === undefined && process.env.GPU_MEMORY_FRACTION ? "GPU_MEMORY_FRACTION" : "option --gpu-memory-fraction");
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * The backend `--device` asks for (logs `device: ...` on stderr); `--device gpu` without a usable
 * adapter is a UsageError (exit 2) with the reason. Close the result when done (Dawn's device and
 * instance keep nothing alive after that).
 */
export async function openDevice<B extends Backend<unknown, unknown, unknown>>(
  choice: DeviceChoice, cpu: B, log?: (line: string) => void, gpuMemoryFraction?: number,
): Promise<ChosenDevice<B>> {
  try {
    return await chooseDevice(choice, cpu, log, { gpuMemoryFraction });
  } catch (err) {
    if (err instanceof WebGpuUnavailable) throw new UsageError(`--device gpu: ${err.message}`);
    throw err;
  }
}


/**
 * `--model`: a folder as given, or a Hub repo id (owner/name[@rev], not an existing folder)
 * downloaded into DATA_DIR/models (HF_ENDPOINT, HF_TOKEN; progress on stderr). A Hub refusal
 * (gated, not found, checksum) is a UsageError with the Hub's reason and what to do.
 */
export async function modelFolder(arg: string): Promise<string> {
  try {
    return (await resolveModelArg(arg, hubModelOptionsFromEnv())).dir;
  } catch (e) {
    if (e instanceof HttpError) throw new UsageError(`--model ${arg} (not a folder here, so a Hub repo id): ${e.message}`);
    throw e;
  }
}
