/**
 * Kernel micro-benchmark: matmul GFLOP/s and weight-streaming GB/s on the shapes of the
 * benchmark model (hidden 512, FFN 1536, vocab 32000), plus the other ops at decode/prefill
 * sizes. Run: `npx tsx inference/kernels/bench-kernels.ts [--isa avx512|avx2|generic] [--reps N]`.
 * Prints a Markdown table; each figure is the median of several timed repetitions.
 */
import os from "node:os";
import { nativeBackend as nat, nativeInfo, setNativeIsa, toBf16 } from "./index";
import { f32Weight as W, type HostWeight } from "./tensor";
import { benchClock, time2 as timeCalls } from "./bench-timing";

const Wb = (data: Uint16Array, rows: number, cols: number): HostWeight => ({ format: "bf16", rows, cols, data });

const args = process.argv.slice(2);
const isaArg = args.includes("--isa") ? args[args.indexOf("--isa") + 1] : undefined;
const reps = args.includes("--reps") ? Number(args[args.indexOf("--reps") + 1]) : 7;
const cpuClock = args.includes("--cpu");
const now = benchClock(cpuClock);
if (isaArg && !setNativeIsa(isaArg as "avx512vnni" | "avx512" | "avx2" | "generic")) throw new Error(`ISA ${isaArg} not supported here`);

function rand(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

const time2 = (fn: () => void) => timeCalls(fn, now, reps);
const time = (fn: () => void): number => time2(fn)[0];

const info = nativeInfo();
console.log(`# Kernel benchmark: ${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} CPUs, isa=${info.isa}, threads=${info.threads}, clock=${cpuClock ? "CPU time" : "wall"}\n`);
console.log("| op | m | k | n | µs/call (median) | GFLOP/s median / best | GB/s (W once) median / best |");
console.log("|---|---|---|---|---|---|---|");
for (const [k, n] of [[512, 1536], [512, 32000], [1536, 512]]) {
  const w = rand(n * k);
  const wb = toBf16(w);
  for (const [op, bytes] of [["matmul", 4], ["matmulBf16", 2]] as const) {
    for (const m of [1, 8, 32, 128]) {
      const x = rand(m * k);
      const out = new Float32Array(m * n);
      const [s, best] = time2(op === "matmul" ? () => nat.matmul(out, x, W(w, n, k), m, k, n) : () => nat.matmul(out, x, Wb(wb, n, k), m, k, n));
      const gf = (t: number) => ((2 * m * n * k) / t / 1e9).toFixed(1);
      const gb = (t: number) => ((bytes * n * k) / t / 1e9).toFixed(1);
      console.log(`| ${op} | ${m} | ${k} | ${n} | ${(s * 1e6).toFixed(1)} | ${gf(s)} / ${gf(best)} | ${gb(s)} / ${gb(best)} |`);
    }
  }
}

// Attention at decode: 32 sequences of 256 cached positions, 8 heads / 2 KV heads, headDim 64.
{
  const [seqs, ctx, heads, kvh, hd, bs] = [32, 256, 8, 2, 64, 16];
  const maxBlocks = ctx / bs;
  const kc = rand(seqs * ctx * kvh * hd);
  const vc = rand(seqs * ctx * kvh * hd);
  const table = Int32Array.from({ length: seqs * maxBlocks }, (_, i) => i);
  const q = rand(seqs * heads * hd);
  const out = new Float32Array(q.length);
  const seqIndex = Int32Array.from({ length: seqs }, (_, i) => i);
  const positions = new Int32Array(seqs).fill(ctx - 1);
  const s = time(() => nat.attention(out, q, kc, vc, table, seqIndex, positions, seqs, heads, kvh, hd, bs, maxBlocks, 0, 0.125));
  const bytes = 2 * seqs * ctx * kvh * hd * 4;
  console.log(`| attention decode (32 seqs × 256 ctx) | 32 | 64 | - | ${(s * 1e6).toFixed(1)} | - | ${(bytes / s / 1e9).toFixed(1)} (KV) |`);
}

// LoRA decode: 32 one-token segments on 8 distinct r=8 adapters, q_proj shape (512 -> 512).
{
  const [k, n, r, segs] = [512, 512, 8, 32];
  const adapters = Array.from({ length: 8 }, () => ({ a: rand(r * k), b: rand(n * r) }));
  const segStarts = Int32Array.from({ length: segs + 1 }, (_, i) => i);
  const a = Array.from({ length: segs }, (_, s) => adapters[s % 8].a);
  const b = Array.from({ length: segs }, (_, s) => adapters[s % 8].b);
  const x = rand(segs * k);
  const y = new Float32Array(segs * n);
  const s = time(() => nat.lora(y, x, k, n, segStarts, a, b, new Int32Array(segs).fill(r), new Float32Array(segs).fill(2)));
  const flops = segs * 2 * r * (k + n);
  console.log(`| lora SGMV (32 segs × 1 token, r=8) | 32 | ${k} | ${n} | ${(s * 1e6).toFixed(1)} | ${(flops / s / 1e9).toFixed(1)} | - |`);
}

// Small ops at a 32-token decode step.
{
  const [tokens, dim, ffn] = [32, 512, 1536];
  const x = rand(tokens * dim);
  const wgt = rand(dim);
  const out = new Float32Array(tokens * dim);
  const g = rand(tokens * ffn);
  const u = rand(tokens * ffn);
  const o2 = new Float32Array(tokens * ffn);
  const rows: [string, () => void][] = [
    ["rmsNorm (32 × 512)", () => nat.rmsNorm(out, x, wgt, tokens, dim, 1e-5)],
    ["siluMul (32 × 1536)", () => nat.siluMul(o2, g, u, tokens * ffn)],
    ["addInPlace (32 × 512)", () => nat.addInPlace(out, x, tokens * dim)],
    ["matmul 1×1×1 (call overhead)", () => nat.matmul(new Float32Array(1), x, W(wgt, 1, 1), 1, 1, 1)],
  ];
  for (const [name, fn] of rows) console.log(`| ${name} | - | - | - | ${(time(fn) * 1e6).toFixed(2)} | - | - |`);
}
