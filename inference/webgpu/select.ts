/**
 * `--device auto|cpu|gpu` (and `DEVICE` for `npm start`): which backend the engine computes on.
 *   cpu  — the CPU backend given;
 *   gpu  — WebGPU on any adapter, software ones included (lavapipe in tests); none → WebGpuUnavailable;
 *   auto — WebGPU on a hardware adapter, else the CPU with a one-line reason; never throws for a
 *          missing or failing GPU (the probe's Dawn instance is dropped when it finds none).
 * Logs `device: webgpu (<adapter>)` or `device: cpu` (with the reason for auto) on stderr.
 */
import type { Backend } from "../kernels/backend";
import { createWebGpuBackend, type WebGpuBackend } from "./backend";
import { WebGpuUnavailable } from "./device";
import { parseGpuMemoryFraction } from "./memory";

/** GPU_MEMORY_FRACTION (npm start, the worker), default 0.9; a bad value throws naming it */
export function gpuMemoryFractionFromEnv(): number {
  return parseGpuMemoryFraction(process.env.GPU_MEMORY_FRACTION, "GPU_MEMORY_FRACTION");
}

export const DEVICE_CHOICES = ["auto", "cpu", "gpu"] as const;
export type DeviceChoice = (typeof DEVICE_CHOICES)[number];

export function isDeviceChoice(v: string): v is DeviceChoice {
  return (DEVICE_CHOICES as readonly string[]).includes(v);
}

export interface ChosenDevice<B> {
  /** the CPU backend given, or the WebGPU one */
  backend: B | WebGpuBackend;
  /** set when the GPU was chosen */
  gpu: WebGpuBackend | null;
  /** "webgpu (<adapter name>)" or "cpu" */
  label: string;
  /** why auto fell back to the CPU, if it did */
  fallbackReason: string | null;
  /** releases the GPU device and Dawn's instance (a no-op on the CPU) */
  close(): void;
}

export async function chooseDevice<B extends Backend<unknown, unknown, unknown>>(
  choice: DeviceChoice,
  cpu: B,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  opts: { gpuMemoryFraction?: number } = {},
): Promise<ChosenDevice<B>> {
  const onCpu = (reason: string | null): ChosenDevice<B> => {
    log(reason ? `device: cpu (${reason})` : "device: cpu");
    return { backend: cpu, gpu: null, label: "cpu", fallbackReason: reason, close() {} };
  };
  if (choice === "cpu") return onCpu(null);
  let gpu: WebGpuBackend;
  try {
    gpu = await createWebGpuBackend({ allowSoftware: choice === "gpu", memoryFraction: opts.gpuMemoryFraction ?? gpuMemoryFractionFromEnv() });
  } catch (err) {
    const reason = err instanceof WebGpuUnavailable ? err.message : `WebGPU failed: ${(err as Error).message}`;
    if (choice === "gpu") throw err instanceof WebGpuUnavailable ? err : new WebGpuUnavailable(reason);
    return onCpu(`auto: ${reason}`);
  }
  const mem = gpu.deviceMemory;
  log(`device: ${gpu.name}`);
  log(`gpu memory: ${mem.totalBytes === null ? "unknown" : `${(mem.totalBytes / 2 ** 30).toFixed(1)} GiB`} (${mem.source}); weights + KV pool up to ${gpu.memoryFraction} of it`);
  return { backend: gpu, gpu, label: gpu.name, fallbackReason: null, close: () => gpu.close() };
}
