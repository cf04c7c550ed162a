/**
 * q8/q4 matmul with f32 activations (quant.inc) vs int8 activations (qdot.inc), interleaved in one
 * process on 7B shapes: each repetition times one batch of the f32 path then one of the int8 path
 * (so a noisy neighbour hits both alike); median and best per call. Run:
 *   npx tsx inference/kernels/bench-qact.ts [--m 1,8,128] [--reps 7] [--cpu] [--isa avx512vnni|avx512|avx2]
 * --cpu: CPU time of this process (set LORA_KERNELS_THREADS=1 so it is per core); else wall clock.
 * GB/s = weight bytes / time (m = 1 streams each weight byte once).
 */
import os from "node:os";
import { loadAddon, nativeBackend } from "./native";
import { benchClock } from "./bench-timing";
import { convertWeight } from "./quantize";
import { weightBytes, type HostWeight } from "./tensor";

const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const reps = Number(opt("--reps") ?? 7);
const ms = (opt("--m") ?? "1").split(",").map(Number);
const formats = (opt("--formats") ?? "q4,q8").split(",") as ("q4" | "q8")[];
const now = benchClock(args.includes("--cpu"));
const a = loadAddon() as ReturnType<typeof loadAddon> & { setQuantActivations(m: string): boolean };
if (opt("--isa") && !a.setIsa(opt("--isa")!)) throw new Error(`ISA ${opt("--isa")} not supported here`);
const info = a.info();
console.log(`# q8/q4 activations f32 vs int8: ${os.cpus()[0]?.model ?? "?"}, isa=${info.isa}, threads=${info.threads}, clock=${args.includes("--cpu") ? "cpu" : "wall"}, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}\n`);
console.log("| format | m | n×k | f32 act µs (med / best) | int8 act µs (med / best) | speed-up (med) | int8 GB/s (med) | max rel diff |");
console.log("|---|---|---|---|---|---|---|---|");

/** iterations per batch so that a batch of fn takes >= ~40 ms */
function calibrate(fn: () => void): number {
  fn();
  let iters = 1;
  for (;;) {
    const t0 = now();
    for (let i = 0; i < iters; i++) fn();
    if (now() - t0 > 0.04) return iters;
    iters *= 2;
  }
}

for (const [n, k] of [[4096, 4096], [14336, 4096], [4096, 14336], [32000, 4096]]) {
  const f = new Float32Array(n * k);
  for (let i = 0; i < f.length; i++) f[i] = Math.sin(i * 0.7) * 0.05;
  const src: HostWeight = { format: "f32", rows: n, cols: k, data: f };
  for (const fmt of formats) {
    const w = convertWeight(src, fmt);
    for (const m of ms) {
      const x = new Float32Array(m * k).map(() => Math.random() - 0.5);
      const o1 = new Float32Array(m * n), o2 = new Float32Array(m * n);
      const f1 = () => {
        a.setQuantActivations("f32");
        nativeBackend.matmul(o1, x, w, m, k, n);
      };
      const f2 = () => {
        a.setQuantActivations("int8");
        nativeBackend.matmul(o2, x, w, m, k, n);
      };
      const i1 = calibrate(f1), i2 = calibrate(f2);
      const s1: number[] = [], s2: number[] = [];
      for (let r = 0; r < reps; r++) {
        let t0 = now();
        for (let i = 0; i < i1; i++) f1();
        s1.push((now() - t0) / i1);
        t0 = now();
        for (let i = 0; i < i2; i++) f2();
        s2.push((now() - t0) / i2);
      }
      s1.sort((p, q) => p - q);
      s2.sort((p, q) => p - q);
      const med1 = s1[s1.length >> 1], med2 = s2[s2.length >> 1];
      let maxAbs = 0, scale = 0;
      for (let i = 0; i < o1.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(o1[i] - o2[i]));
        scale = Math.max(scale, Math.abs(o1[i]));
      }
      console.log(
        `| ${fmt} | ${m} | ${n}×${k} | ${(med1 * 1e6).toFixed(0)} / ${(s1[0] * 1e6).toFixed(0)} | ${(med2 * 1e6).toFixed(0)} / ${(s2[0] * 1e6).toFixed(0)} | ${(med1 / med2).toFixed(2)}x | ${(weightBytes(w) / med2 / 1e9).toFixed(1)} | ${(maxAbs / scale).toExponential(1)} |`,
      );
    }
  }
}
a.setQuantActivations("int8");
console.log(`\nload after: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
