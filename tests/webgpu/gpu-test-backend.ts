/**
 * One WebGPU device per test process. Under WEBGPU_REQUIRED=1 (CI) a missing adapter fails the
 * GPU tests; elsewhere they are skipped with a loud message.
 */
import { it, expect } from "vitest";
import { createWebGpuBackend, type WebGpuBackend } from "../../inference/webgpu/backend";

export const WEBGPU_REQUIRED = process.env.WEBGPU_REQUIRED === "1";

export interface TestGpu {
  be: WebGpuBackend | null;
  reason: string;
}

/** Opens the process's device (software adapters allowed: lavapipe is what CI has). */
export async function openTestGpu(): Promise<TestGpu> {
  try {
    const be = await createWebGpuBackend({ allowSoftware: true });
    return { be, reason: "" };
  } catch (err) {
    return { be: null, reason: (err as Error).message };
  }
}

/** Registers the failing (CI) or skipped test that stands for the suite when there is no device. */
export function reportMissingGpu(reason: string): void {
  if (WEBGPU_REQUIRED) {
    it("WebGPU adapter is available (WEBGPU_REQUIRED=1)", () => {
      expect.fail(`no WebGPU device: ${reason}`);
    });
  } else {
    console.warn(`\n*** WebGPU tests SKIPPED: ${reason}\n*** (Linux: apt-get install -t bookworm-backports mesa-vulkan-drivers; CI sets WEBGPU_REQUIRED=1)\n`);
    it.skip(`WebGPU tests skipped: ${reason}`, () => {});
  }
}
