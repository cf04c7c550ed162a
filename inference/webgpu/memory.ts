/**
 * How big the KV block pool on a WebGPU device may be. WebGPU does not report a device's memory,
 * so its size comes from where the platform tells it (one line says which): a software adapter
 * (lavapipe) and Apple's unified memory allocate host RAM (os.totalmem); NVIDIA from nvidia-smi;
 * AMD from amdgpu's sysfs. Unknown elsewhere: then only the caller's byte cap applies.
 * Each layer's K and V pool is one buffer bound whole, so the adapter's maxBufferSize and
 * maxStorageBufferBindingSize cap the blocks too.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import type { KvPoolPlan } from "../kernels/backend";

export interface DeviceMemory {
  /** bytes of device memory, null when the platform does not say */
  totalBytes: number | null;
  /** where the figure came from */
  source: string;
}

export const DEFAULT_GPU_MEMORY_FRACTION = 0.9;

/** `--gpu-memory-fraction` / GPU_MEMORY_FRACTION: a number in (0, 1]; throws naming the option. */
export function parseGpuMemoryFraction(raw: string | number | undefined, field = "gpu-memory-fraction"): number {
  if (raw === undefined || raw === "") return DEFAULT_GPU_MEMORY_FRACTION;
  const v = typeof raw === "number" ? raw : Number(raw);
  if (!(Number.isFinite(v) && v > 0 && v <= 1)) throw new RangeError(`${field} must be a number in (0, 1], got "${raw}"`);
  return v;
}

/** The device's memory for an adapter described by vendor/name/software (see the file comment). */
export function deviceMemory(adapter: { name: string; vendor: string; software: boolean }): DeviceMemory {
  if (adapter.software) return { totalBytes: os.totalmem(), source: "host memory (software adapter)" };
  if (process.platform === "darwin") return { totalBytes: os.totalmem(), source: "unified memory (Apple)" };
  const who = `${adapter.vendor} ${adapter.name}`;
  if (/nvidia/i.test(who)) {
    try {
      // MiB per GPU, one line each; the largest stands for the adapter (one GPU per worker)
      const out = execFileSync("nvidia-smi", ["--query-gpu=memory.total", "--format=csv,noheader,nounits"], { encoding: "utf8", timeout: 5000 });
      const mib = Math.max(...out.split("\n").map(Number).filter((n) => n > 0));
      if (Number.isFinite(mib)) return { totalBytes: mib * 2 ** 20, source: "nvidia-smi" };
    } catch { /* no nvidia-smi: unknown */ }
  }
  if (/amd|ati|radeon/i.test(who) && process.platform === "linux") {
    try {
      const sizes = readdirSync("/sys/class/drm").filter((d) => /^card\d+$/.test(d))
        .map((d) => { try { return Number(readFileSync(`/sys/class/drm/${d}/device/mem_info_vram_total`, "utf8")); } catch { return 0; } });
      const max = Math.max(0, ...sizes);
      if (max > 0) return { totalBytes: max, source: "amdgpu sysfs" };
    } catch { /* no sysfs: unknown */ }
  }
  return { totalBytes: null, source: "not reported by this platform" };
}


/**
 * Blocks for the KV pool: the fewest of what the engine wants (maxRunning full contexts), the
 * caller's byte cap, fraction × device memory less what is already on the device (weights,
 * scratch), and the per-buffer limits (a layer's K or V pool is one buffer).
 */
export function planKvPool(p: {
  wantedBlocks: number;
  /** bytes of one block across every layer, K and V */
  bytesPerBlock: number;
  /** bytes of one block in one layer's K (or V) pool buffer */
  bufferBytesPerBlock: number;
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  memory: DeviceMemory;
  fraction: number;
  inUseBytes: number;
  capBytes: number | null;
}): KvPoolPlan {
  const bounds: { name: string; blocks: number }[] = [{ name: "maxRunning full contexts", blocks: p.wantedBlocks }];
  const perBuffer = Math.min(p.limits.maxBufferSize, p.limits.maxStorageBufferBindingSize);
  bounds.push({ name: `one layer's pool per buffer (min(maxBufferSize, maxStorageBufferBindingSize) = ${mib(perBuffer)})`, blocks: Math.floor(perBuffer / p.bufferBytesPerBlock) });
  if (p.capBytes !== null) bounds.push({ name: `the KV byte cap ${mib(p.capBytes)}`, blocks: Math.floor(p.capBytes / p.bytesPerBlock) });
  if (p.memory.totalBytes !== null) {
    const free = p.fraction * p.memory.totalBytes - p.inUseBytes;
    bounds.push({
      name: `${p.fraction} x ${mib(p.memory.totalBytes)} device memory (${p.memory.source}) less ${mib(p.inUseBytes)} in use`,
      blocks: Math.floor(Math.max(0, free) / p.bytesPerBlock),
    });
  }
  let best = bounds[0]!;
  for (const b of bounds) if (b.blocks < best.blocks) best = b;
  const numBlocks = Math.max(1, best.blocks);
  const memoryNote = p.memory.totalBytes === null ? `; device memory ${p.memory.source}` : "";
  return {
    numBlocks,
    bytes: numBlocks * p.bytesPerBlock,
    reason: `KV pool ${numBlocks} blocks (${mib(numBlocks * p.bytesPerBlock)}), bound by ${best.name}${memoryNote}`,
  };
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 3 : 0)} MiB`;
}
