/**
 * The worker on `--device gpu` (lavapipe here): /info and /metrics name the device and adapter
 * and report the device memory held (the KV pool is allocated at start; an adapter's first use
 * adds its A/B); the KV pool sizing line is logged. Also the status page's texts for those fields.
 */
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deviceMemoryText, deviceText } from "../../components/status/status-view";
import { FIXTURES, postJson, startWorker, type Worker } from "../worker/worker-helpers";
import { openTestGpu, reportMissingGpu } from "./gpu-test-backend";

// probe only (closed at once): the worker opens its own device
const probe = await openTestGpu();
const adapterName = probe.be?.ctx.name ?? "";
probe.be?.close();
if (!probe.be) reportMissingGpu(probe.reason);

describe("status page device texts", () => {
  it("names the adapter and the memory in use, of the total when known; the CPU has no memory figure", () => {
    expect(deviceText({ model_device_type: "webgpu", device_adapter: "NVIDIA H100" })).toBe("webgpu (NVIDIA H100)");
    expect(deviceText({ model_device_type: "cpu", device_adapter: null })).toBe("cpu");
    expect(deviceText(null)).toBe("—");
    expect(deviceMemoryText({ device_memory_in_use_bytes: 15.5 * 2 ** 30, device_memory_total_bytes: 80 * 2 ** 30 })).toBe("15.5 GiB of 80.0 GiB");
    expect(deviceMemoryText({ device_memory_in_use_bytes: 2 ** 20, device_memory_total_bytes: null })).toBe("0.001 GiB");
    expect(deviceMemoryText({ device_memory_in_use_bytes: null })).toBe("—");
  });
});

describe.runIf(probe.be)("worker --device gpu", () => {
  let w: Worker;
  afterAll(async () => { await w?.stop(); });

  it("/info and /metrics report webgpu, the adapter and the device memory held", async () => {
    const dir = path.join(FIXTURES, "tiny-llama");
    w = await startWorker(["--model", path.join(dir, "base"), "--adapters", path.join(dir, "adapters"), "--device", "gpu", "--dtype", "f32", "--gpu-memory-fraction", "0.5"]);
    expect(w.logs()).toMatch(/device: webgpu \(.+\)/);
    expect(w.logs()).toMatch(/gpu memory: [\d.]+ GiB \(host memory \(software adapter\)\); weights \+ KV pool up to 0\.5 of it/);
    expect(w.logs()).toMatch(/KV pool \d+ blocks \([\d.]+ MiB\), bound by /);

    const info = await (await fetch(`${w.url}/info`)).json();
    expect(info.model_device_type).toBe("webgpu");
    expect(info.device_adapter).toBe(adapterName);
    expect(info.device_memory_in_use_bytes).toBeGreaterThan(0);
    expect(info.device_memory_total_bytes).toBeGreaterThan(info.device_memory_in_use_bytes);

    // an adapter's first request uploads its A/B: the memory held grows
    const r = await postJson(`${w.url}/generate`, { inputs: "hello", parameters: { max_new_tokens: 2, adapter_id: "qv-r8" } });
    expect(r.status).toBe(200);
    const after = await (await fetch(`${w.url}/info`)).json();
    expect(after.device_memory_in_use_bytes).toBeGreaterThan(info.device_memory_in_use_bytes);

    const text = await (await fetch(`${w.url}/metrics`)).text();
    const esc = adapterName.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    expect(text).toMatch(new RegExp(`^worker_device_info\\{device="webgpu",adapter="${esc}"\\} 1$`, "m"));
    const used = Number(new RegExp(`^worker_device_memory_in_use_bytes\\{device="webgpu",adapter="${esc}"\\} (\\d+)$`, "m").exec(text)?.[1]);
    expect(used).toBe(after.device_memory_in_use_bytes);
    expect(text).toMatch(/^worker_device_memory_total_bytes\{device="webgpu",adapter=".+"\} \d+$/m);
  });
});
