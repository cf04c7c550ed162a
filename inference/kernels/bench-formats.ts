/**
 * Matmul throughput per weight format on 7B shapes: GB/s of weights streamed at m = 1 (decode
 * GEMV, memory bound) and GFLOP/s for batches. Run:
 *   npx tsx inference/kernels/bench-formats.ts [--isa avx512|avx2|generic] [--reps N] [--m 1,8,128] [--cpu]
 * Through the native backend's matmul (its per-format dispatch); each figure is the median / best
 * of `reps` timed batches.
 */
import os from "node:os";
import { loadAddon, nativeBackend } from "./native";
import { benchClock, time2 } from "./bench-timing";
import { convertWeight } from "./quantize";
import type { HostWeight } from "./tensor";
import { weightBytes } from "./tensor";

const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const reps = Number(opt("--reps") ?? 7);
const ms = (opt("--m") ?? "1,8,128").split(",").map(Number);
const cpuClock = args.includes("--cpu"); // CPU time of this process (with LORA_KERNELS_THREADS=1: robust on a shared machine)
const now = benchClock(cpuClock);
const a = loadAddon();
if (opt("--isa") && !a.setIsa(opt("--isa")!)) throw new Error(`ISA ${opt("--isa")} not supported here`);

const info = a.info();
console.log(`# Format matmul: ${os.cpus()[0]?.model ?? "?"}, isa=${info.isa}, threads=${info.threads}\n`);
console.log("| format | m | n×k | µs/call | GB/s (W once) median / best | GFLOP/s median |");
console.log("|---|---|---|---|---|---|");
for (const [n, k] of [[4096, 4096], [14336, 4096]]) {
  const f = new Float32Array(n * k);
  for (let i = 0; i < f.length; i++) f[i] = Math.sin(i * 0.7) * 0.05;
  const src: HostWeight = { format: "f32", rows: n, cols: k, data: f };
  for (const fmt of ["f32", "bf16", "f16", "q8", "q4"] as const) {
    const w = convertWeight(src, fmt);
    for (const m of ms) {
      const x = new Float32Array(m * k).map(() => Math.random() - 0.5);
      const out = new Float32Array(m * n);
      const [t, best] = time2(() => nativeBackend.matmul(out, x, w, m, k, n), now, reps);
      const gb = (s: number) => (weightBytes(w) / s / 1e9).toFixed(1);
      console.log(`| ${fmt} | ${m} | ${n}×${k} | ${(t * 1e6).toFixed(0)} | ${gb(t)} / ${gb(best)} | ${((2 * m * n * k) / t / 1e9).toFixed(1)} |`);
    }
  }
}
