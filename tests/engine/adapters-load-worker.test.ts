/**
 * The adapter load worker (inference/adapters/load-worker.mjs): loads through it give exactly the
 * weights the in-thread reader gives, one transferred buffer per tensor; its read errors come back
 * as messages; the main thread's event loop keeps turning while it converts (what P5 needs); and
 * an idle worker does not keep a process alive after its load is done.
 */
import { performance } from "node:perf_hooks";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPeftAdapter } from "../../inference/adapters/peft";
import { readTensorsInWorker, type TensorRead } from "../../inference/adapters/load-worker-client";
import { readModelConfig, type ModelConfig } from "../../inference/model/config";
import { readSafetensorsFile, readSafetensorsHeaderSync, tensorFloat32 } from "../../inference/model/safetensors";
import { PROJECTIONS } from "../../inference/adapters/lora-weights";

const ROOT = path.resolve(import.meta.dirname, "../..");
const FIX = path.join(ROOT, "tests/data/fixtures/tiny-llama");
const tmp = mkdtempSync(path.join(os.tmpdir(), "load-worker-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let base: ModelConfig;
beforeAll(async () => { base = await readModelConfig(path.join(FIX, "base")); });

/** writes an F32 safetensors file of `count` tensors of `n` elements each (values i * 0.5 + t) */
function writeBigFile(file: string, count: number, n: number): void {
  const header: Record<string, unknown> = {};
  for (let t = 0; t < count; t++) header[`t${t}`] = { dtype: "F32", shape: [n], data_offsets: [t * n * 4, (t + 1) * n * 4] };
  writeFile(file, header, Buffer.from(makeData(count, n).buffer));
}

function makeData(count: number, n: number): Float32Array {
  const data = new Float32Array(count * n);
  for (let t = 0; t < count; t++) for (let i = 0; i < n; i += 4096) data[t * n + i] = i * 0.5 + t;
  return data;
}

/** F16 file, same layout (the values above are exact in f16 for small i) */
function writeBigF16File(file: string, count: number, n: number): void {
  const header: Record<string, unknown> = {};
  for (let t = 0; t < count; t++) header[`t${t}`] = { dtype: "F16", shape: [n], data_offsets: [t * n * 2, (t + 1) * n * 2] };
  const data = new Uint16Array(count * n);
  for (let t = 0; t < count; t++) data[t * n + 2] = 0x3c00 + t; // 1 + t/1024
  writeFile(file, header, Buffer.from(data.buffer));
}

function writeFile(file: string, header: Record<string, unknown>, data: Buffer): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, data]));
}

function readsOf(file: string): TensorRead[] {
  const h = readSafetensorsHeaderSync(file);
  return [...h.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, begin: t.begin, end: t.end, n: t.shape.reduce((a, b) => a * b, 1) }));
}

/**
 * Milliseconds the main thread's event loop was busy (running JS, not waiting in poll) while
 * `work` ran: performance.eventLoopUtilization's `active`. A conversion in this thread is all
 * busy time; one in the worker leaves the loop idle but for a message. Unlike wall-clock gaps,
 * other processes competing for the CPU do not make an idle loop look busy.
 */
async function busyMs(work: () => Promise<unknown>): Promise<number> {
  const start = performance.eventLoopUtilization();
  await work();
  return performance.eventLoopUtilization(start).active;
}

describe("adapter load worker", () => {
  it("loads every tensor bit-exactly as the in-thread reader does, each in its own buffer", async () => {
    const dir = path.join(FIX, "adapters/all-r16");
    const w = await loadPeftAdapter(dir, "all", base);
    const file = await readSafetensorsFile(path.join(dir, "adapter_model.safetensors"));
    let pairs = 0;
    for (let l = 0; l < base.numLayers; l++) {
      for (const proj of PROJECTIONS) {
        const pair = w.layers[l][proj];
        expect(pair, `layer ${l} ${proj}`).toBeDefined();
        const key = (ab: "A" | "B") => [...file.header.tensors.keys()].find((k) => new RegExp(`layers\\.${l}\\.\\w+\\.${proj}\\.lora_${ab}\\.`).test(k))!;
        const [aKey, bKey] = [key("A"), key("B")];
        expect(Buffer.from(pair!.a.buffer).equals(Buffer.from(tensorFloat32(file.bytes, file.header, aKey).buffer))).toBe(true);
        expect(Buffer.from(pair!.b.buffer).equals(Buffer.from(tensorFloat32(file.bytes, file.header, bKey).buffer))).toBe(true);
        // transferred per tensor, not views into one file-sized buffer
        expect(pair!.a.buffer.byteLength).toBe(pair!.a.byteLength);
        expect(pair!.a.buffer).not.toBe(pair!.b.buffer);
        pairs++;
      }
    }
    expect(pairs).toBe(base.numLayers * PROJECTIONS.length);
  });

  it("reports read errors from the worker (missing file, data past the end)", async () => {
    await expect(readTensorsInWorker(path.join(tmp, "nope.safetensors"), [])).rejects.toThrow(/cannot open: ENOENT/);
    const file = path.join(tmp, "small.safetensors");
    writeBigFile(file, 2, 1024);
    const reads = readsOf(file);
    reads[1] = { ...reads[1], begin: reads[1].begin + 8192, end: reads[1].end + 8192 };
    await expect(readTensorsInWorker(file, reads)).rejects.toThrow(/unexpected end of file/);
    // the worker survives a failed read
    const ok = await readTensorsInWorker(file, readsOf(file));
    expect(new Float32Array(ok[1])[4096 % 1024]).toBe(1);
  });

  it("leaves the event loop idle while it converts (the in-thread conversion keeps it busy)", async () => {
    const file = path.join(tmp, "big-f16.safetensors");
    writeBigF16File(file, 16, 1024 * 1024); // 32 MiB of f16 -> 64 MiB of fp32 through the table
    const reads = readsOf(file);
    await readTensorsInWorker(file, reads); // page cache and f16 table warm for both paths
    const inThread = await busyMs(async () => {
      const f = await readSafetensorsFile(file);
      for (const r of reads) tensorFloat32(f.bytes, f.header, r.name);
    });
    // best of three: a shared 2-core machine can stall any single run (GC of the copy above, neighbours)
    let buffers: ArrayBuffer[] = [];
    let inWorker = Infinity;
    for (let i = 0; i < 3; i++) inWorker = Math.min(inWorker, await busyMs(async () => { buffers = await readTensorsInWorker(file, reads); }));
    expect(buffers).toHaveLength(16);
    expect(new Float32Array(buffers[15])[2]).toBe(1 + 15 / 1024);
    expect(new Float32Array(buffers[15]).length).toBe(1024 * 1024);
    // 64 MiB converted in this thread vs. 16 transferred buffers received from the worker
    expect(inWorker).toBeLessThan(inThread / 4);
  });

  it("does not keep a process alive once its load is done", () => {
    const script = [
      `import { loadPeftAdapter } from ${JSON.stringify(path.join(ROOT, "inference/adapters/peft.ts"))};`,
      `import { readModelConfig } from ${JSON.stringify(path.join(ROOT, "inference/model/config.ts"))};`,
      `const base = await readModelConfig(${JSON.stringify(path.join(FIX, "base"))});`,
      `const w = await loadPeftAdapter(${JSON.stringify(path.join(FIX, "adapters/qv-r8"))}, "qv", base);`,
      `console.log("loaded", w.rank);`,
    ].join("\n");
    const file = path.join(tmp, "cli.mts");
    writeFileSync(file, script);
    const out = execFileSync(path.join(ROOT, "node_modules/.bin/tsx"), [file], { cwd: ROOT, timeout: 30_000, encoding: "utf8" });
    expect(out).toContain("loaded 8");
  });
});
