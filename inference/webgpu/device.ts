/**
 * Dawn device setup: load `dawn.node` (npm `webgpu`) lazily, pick an adapter, open a device with
 * the adapter's own buffer limits, and release everything so a CLI process can exit.
 *
 * Nothing here runs unless a GPU backend is asked for: CPU-only paths never load dawn.node.
 */
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** Why no usable WebGPU device could be opened (one line, for logs and `--device gpu` errors). */
export class WebGpuUnavailable extends Error {
  readonly code = "webgpu_unavailable";
  constructor(reason: string) {
    super(reason);
    this.name = "WebGpuUnavailable";
  }
}

export interface GpuAdapterSummary {
  /** e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)" */
  readonly name: string;
  readonly vendor: string;
  /** a software rasterizer (lavapipe, SwiftShader, WARP): used only when asked for */
  readonly software: boolean;
  readonly features: readonly string[];
  /** the subgroup size when the adapter has subgroups of one fixed size, else 0 */
  readonly fixedSubgroupSize: number;
}

export interface GpuContext extends GpuAdapterSummary {
  readonly device: GPUDevice;
  readonly limits: GPUSupportedLimits;
  /** Destroys the device and drops Dawn's instance (the process can then exit). Idempotent. */
  close(): void;
}

export interface OpenOptions {
  /** accept a software adapter (tests on lavapipe, `--device gpu`); default true */
  allowSoftware?: boolean;
}

type DawnModule = { create(options: string[]): GPU };

/**
 * Instances whose device was closed, kept for the process's life: dawn.node (webgpu 0.6.2)
 * crashes the process (SIGSEGV, or "futex facility returned an unexpected error code") when a
 * GPU instance that created a device is garbage-collected — reproduced on lavapipe with open,
 * device.destroy(), drop, gc(). With the device destroyed a kept instance does not hold the
 * process open (it exits at once), so keeping it costs only its memory.
 */
const closedInstances: GPU[] = [];

async function loadDawn(): Promise<DawnModule> {
  // Mesa's Vulkan drivers want a runtime dir; a service account often has none.
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = mkdtempSync(path.join(os.tmpdir(), "webgpu-xdg-"));
  try {
    return (await import("webgpu")) as unknown as DawnModule;
  } catch (err) {
    throw new WebGpuUnavailable(`dawn.node could not be loaded (${(err as Error).message.split("\n")[0]})`);
  }
}

function backendOption(): string[] {
  // Vulkan on Linux (the only Linux backend Dawn ships); Dawn's default elsewhere (Metal, D3D12).
  return process.platform === "linux" ? ["backend=vulkan"] : [];
}

function summarize(adapter: GPUAdapter): GpuAdapterSummary {
  const info = adapter.info;
  const name = info.description || info.device || info.vendor || "unknown adapter";
  const software = Boolean((info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter) ||
    /llvmpipe|lavapipe|swiftshader|warp|software/i.test(`${info.description} ${info.device} ${info.architecture}`);
  const sg = info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const fixedSubgroupSize = adapter.features.has("subgroups") && sg.subgroupMinSize && sg.subgroupMinSize === sg.subgroupMaxSize ? sg.subgroupMinSize : 0;
  return { name, vendor: info.vendor, software, features: [...adapter.features].sort(), fixedSubgroupSize };
}

/**
 * Opens a device. Throws WebGpuUnavailable with a one-line reason when Dawn cannot load, no
 * adapter answers, or only a software adapter does and `allowSoftware` is false.
 */
export async function openWebGpu(opts: OpenOptions = {}): Promise<GpuContext> {
  const allowSoftware = opts.allowSoftware ?? true;
  const dawn = await loadDawn();
  let gpu: GPU | null = dawn.create(backendOption());
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) throw new WebGpuUnavailable("no WebGPU adapter (no Vulkan driver or GPU found)");
    const summary = summarize(adapter);
    if (summary.software && !allowSoftware) {
      throw new WebGpuUnavailable(`only a software adapter is available (${summary.name})`);
    }
    const L = adapter.limits;
    const requiredFeatures = (["shader-f16", "subgroups", "timestamp-query"] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
    const device = await adapter.requestDevice({
      requiredFeatures,
      requiredLimits: {
        maxBufferSize: L.maxBufferSize,
        maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
        maxStorageBuffersPerShaderStage: Math.min(L.maxStorageBuffersPerShaderStage, 10),
        maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: Math.min(L.maxComputeInvocationsPerWorkgroup, 256),
        maxComputeWorkgroupSizeX: Math.min(L.maxComputeWorkgroupSizeX, 256),
        maxComputeWorkgroupSizeY: Math.min(L.maxComputeWorkgroupSizeY, 256),
      },
    });
    let closed = false;
    return {
      ...summary,
      device,
      limits: device.limits,
      close() {
        if (closed) return;
        closed = true;
        device.destroy();
        if (gpu) closedInstances.push(gpu); // never collected: see closedInstances
        gpu = null;
      },
    };
  } catch (err) {
    gpu = null;
    if (err instanceof WebGpuUnavailable) throw err;
    throw new WebGpuUnavailable(`WebGPU device could not be opened (${(err as Error).message.split("\n")[0]})`);
  }
}
