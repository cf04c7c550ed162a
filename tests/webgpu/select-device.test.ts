import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { referenceBackend } from "../../inference/kernels/reference";
import { chooseDevice } from "../../inference/webgpu/select";
import { WebGpuUnavailable } from "../../inference/webgpu/device";
import { reportMissingGpu } from "./gpu-test-backend";

// One device per process: `auto` on a machine with only a software adapter opens none.

describe("--device", () => {
  it("cpu uses the CPU backend and says so", async () => {
    const lines: string[] = [];
    const d = await chooseDevice("cpu", referenceBackend, (l) => lines.push(l));
    expect(d.backend).toBe(referenceBackend);
    expect(d.label).toBe("cpu");
    expect(lines).toEqual(["device: cpu"]);
  });

  it("auto takes a hardware adapter or falls back to the CPU with a one-line reason, never throwing", async () => {
    const lines: string[] = [];
    const d = await chooseDevice("auto", referenceBackend, (l) => lines.push(l));
    try {
      if (d.gpu) {
        expect(lines).toHaveLength(2);
        expect(lines[0]).toBe(`device: ${d.label}`);
        expect(lines[1]).toMatch(/^gpu memory: /);
        expect(d.gpu.ctx.software).toBe(false);
      } else {
        expect(lines).toHaveLength(1);
        expect(d.backend).toBe(referenceBackend);
        expect(lines[0]).toMatch(/^device: cpu \(auto: .+\)$/);
        expect(lines[0]).not.toMatch(/\n/);
      }
    } finally {
      d.close();
    }
  });
});

// the process's one device, opened through --device gpu
const gpuLines: string[] = [];
const chosen = await chooseDevice("gpu", referenceBackend, (l) => gpuLines.push(l)).catch((err: unknown) => err as Error);
if (chosen instanceof Error) {
  it("--device gpu without an adapter throws WebGpuUnavailable", () => {
    expect(chosen).toBeInstanceOf(WebGpuUnavailable);
  });
  reportMissingGpu(chosen.message);
}

describe.runIf(!(chosen instanceof Error))("--device gpu", () => {
  afterAll(() => { if (!(chosen instanceof Error)) chosen.close(); });

  it("a closed device's Dawn instance survives garbage collection, and the process exits by itself", async () => {
    // dawn.node crashes the process when such an instance is collected (device.ts: closedInstances)
    const script = `import { createWebGpuBackend } from "./inference/webgpu/backend.ts";
      const be = await createWebGpuBackend({ allowSoftware: true });
      be.close();
      globalThis.gc(); await new Promise((r) => setTimeout(r, 200)); globalThis.gc();
      console.log("survived gc");`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--expose-gc", "--import", "tsx", "--input-type=module", "-e", script],
      { cwd: path.resolve(import.meta.dirname, "../.."), timeout: 60_000 });
    expect(stdout.trim()).toBe("survived gc");
  });

  it("opens any adapter, software included, and logs its name", () => {
    if (chosen instanceof Error) return;
    expect(chosen.gpu).not.toBeNull();
    expect(chosen.backend).toBe(chosen.gpu);
    expect(chosen.label).toMatch(/^webgpu \(.+\)$/);
    expect(gpuLines[0]).toBe(`device: ${chosen.label}`);
    // the memory the KV pool is sized from, and where the figure came from
    expect(gpuLines[1]).toMatch(chosen.gpu!.ctx.software
      ? /^gpu memory: \d+\.\d GiB \(host memory \(software adapter\)\); weights \+ KV pool up to 0\.9 of it$/
      : /^gpu memory: .+; weights \+ KV pool up to 0\.9 of it$/);
    expect(gpuLines).toHaveLength(2);
  });
});
