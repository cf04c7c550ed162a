/**
 * `npm run bench:engine -- --size 7b|small [--formats q8,q4] [--cache-dir DIR] [--prepare] [--runs N]`
 *
 * Issue 10's CPU table on a synthetic Mistral-7B-shaped model (SIZES["7b"]; "small" is the same
 * layout at 0.17B to try the path): ours vs llama.cpp at each weight format (ours bf16/q8/q4 vs
 * GGUF BF16/Q8_0/Q4_0 made from the same bytes, gguf-export.ts), 8 r=8 q/v adapters, 2 threads.
 * Figures per format: S1 single-stream decode (16 prompt + 32 new), S8 8 streams on 8 distinct
 * adapters (aggregate), PF prefill of a 512-token prompt, S1 as a fraction of the bandwidth bound
 * (this machine's read bandwidth ÷ the bytes one decoded token reads), RSS after load.
 *
 * One-time (cached under --cache-dir, default $LORALAND_BENCH_CACHE or ~/.cache/loraland-bench,
 * never in the repo; ~40 GB at 7B): the bf16 checkpoint and adapters, the GGUF exports, our q8/q4
 * weight caches. `--prepare` does only that (run it with `nice -n 19` on a shared machine).
 * Then, per format, the llama.cpp side runs its figures in its own process and exits, then ours:
 * never both engines' weights in memory at once. One run per figure at 7B (--runs to change).
 * bf16 runs only when its weights fit under --max-rss-gib (default 12; a 7B bf16 model is 13.5 GiB).
 * Writes bench/out/engine-<size>.md and .json.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Engine } from "../../inference/engine/engine";
import { formatForRole } from "../../inference/kernels/quantize";
import { weightBytesOf, type WeightFormat } from "../../inference/kernels/tensor";
import { readBandwidth } from "./bandwidth";
import { SETTINGS, log, median } from "./common";
import { exportAdapterGguf, exportModelGguf } from "./gguf-export";
import { Side, cpuPressure, ensureLlamaInstalled, machineLine } from "./side";
import { ensureSynthetic, qvName, SIZES, type SyntheticShape } from "./synthetic";

export type Size = keyof typeof SIZES;
export const SIZED_FORMATS = ["bf16", "q8", "q4"] as const;
type Fmt = (typeof SIZED_FORMATS)[number];

export interface SizedOptions {
  size: Size;
  /** null: q8, q4 and bf16 when it fits */
  formats: Fmt[] | null;
  cacheDir: string;
  prepareOnly: boolean;
  runs: number | null;
  maxRssGiB: number;
}

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const OUT = path.join(ROOT, "bench", "out");
const GGUF_VERSION = 1;
const GIB = 2 ** 30;

export function defaultCacheDir(): string {
  return process.env.LORALAND_BENCH_CACHE || path.join(os.homedir(), ".cache", "loraland-bench");
}

/** The decoder's matrices in `f` (q4 keeps embeddings/head q8): bytes, and the bytes one decoded token reads (all but the embedding table, of which one row). */
export function weightBytesFor(s: SyntheticShape, f: WeightFormat): { total: number; perToken: number } {
  const hd = s.hidden / s.heads;
  const layer = [[s.hidden, s.hidden], [s.kvHeads * hd, s.hidden], [s.kvHeads * hd, s.hidden], [s.hidden, s.hidden], [s.ffn, s.hidden], [s.ffn, s.hidden], [s.hidden, s.ffn]]
    .reduce((n, [r, c]) => n + weightBytesOf(f, r, c), 0);
  const embed = weightBytesOf(formatForRole(f, "embed"), s.vocab, s.hidden);
  const head = weightBytesOf(formatForRole(f, "lmHead"), s.vocab, s.hidden);
  return { total: s.layers * layer + embed + head, perToken: s.layers * layer + head };
}

function ensureGguf(root: string, base: string, adapters: Map<string, string>, formats: Fmt[], names: string[]): { models: Record<string, string>; adapters: Record<string, string> } {
  const dir = path.join(root, "gguf");
  fs.mkdirSync(dir, { recursive: true });
  const stamp = `${GGUF_VERSION}:${fs.readFileSync(path.join(root, "synthetic", "stamp.json"), "utf8")}`;
  const done = (f: string) => fs.existsSync(path.join(dir, `${f}.stamp`)) && fs.readFileSync(path.join(dir, `${f}.stamp`), "utf8") === stamp;
  const models: Record<string, string> = {};
  for (const f of formats) {
    models[f] = path.join(dir, `base-${f}.gguf`);
    if (done(f)) continue;
    const t0 = Date.now();
    exportModelGguf(base, models[f], "loraland-bench-synthetic-mistral", f);
    fs.writeFileSync(path.join(dir, `${f}.stamp`), stamp);
    log(`exported the GGUF model at ${f} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  const files = Object.fromEntries(names.map((n) => [n, path.join(dir, `${n}.gguf`)]));
  if (!done("adapters")) {
    for (const n of names) exportAdapterGguf(adapters.get(n)!, base, files[n]);
    fs.writeFileSync(path.join(dir, "adapters.stamp"), stamp);
  }
  return { models, adapters: files };
}

/** Our q8/q4 weight caches, built once by loading (a load builds and maps the cache; bf16 is mapped as stored). */
async function ensureOurCaches(base: string, weightsDir: string, formats: Fmt[]): Promise<void> {
  for (const f of formats) {
    if (f === "bf16") continue;
    const t0 = Date.now();
    const engine = await Engine.create({ modelDir: base, backend: "native", log: null, dtype: f, weightCacheDir: weightsDir, kvCacheBytes: 16 * 2 ** 20, maxContext: 64, maxRunning: 1 });
    const w = engine.model.weights;
    await engine.shutdown();
    log(`our ${f} weights: ${w?.cacheBuilt ? "cache built" : "cache found"} in ${((Date.now() - t0) / 1000).toFixed(0)} s (${w?.cacheFile})`);
  }
}

interface SideFigures { S1: number[]; S8: number[]; PF: number[]; "S1-1thread"?: number[]; rss: Record<string, number | string> | null }

async function runSide(side: Side, runs: number, warmup: boolean, figures: ("S1" | "S8" | "PF" | "S1-1thread")[]): Promise<SideFigures | null> {
  if (!(await side.ready())) return null;
  const out: SideFigures = { S1: [], S8: [], PF: [], rss: null };
  try {
    if (warmup) await side.ask("warmup", 0);
    // after the first passes (ours warms up as it starts): the mapped weights are paged in
    out.rss = await side.ask<Record<string, number | string>>("RSS", 0);
    for (let r = 0; r < runs; r++) {
      for (const fig of figures) {
        const v = await side.ask<number>(fig, r);
        if (v !== null) (out[fig] ??= []).push(v);
        log(`${side.label} run ${r + 1}/${runs} ${fig} ${v === null ? "failed" : v.toFixed(2)} tok/s (load ${os.loadavg()[0].toFixed(1)})`);
      }
    }
  } finally {
    await side.close();
  }
  return out;
}

export async function runSized(o: SizedOptions): Promise<void> {
  const t0 = Date.now();
  const shape = SIZES[o.size];
  const root = path.join(o.cacheDir, o.size);
  const threads = Math.min(2, os.cpus().length);
  const names = Array.from({ length: SETTINGS.sized.streams }, (_, i) => qvName(i));
  const formats = o.formats ?? SIZED_FORMATS.filter((f) => f !== "bf16" || weightBytesFor(shape, f).total + GIB <= o.maxRssGiB * GIB);
  // formats left out by the memory cap (an explicit --formats list is taken as it is)
  const skipped = o.formats ? [] : SIZED_FORMATS.filter((f) => !formats.includes(f));
  log(`bench:engine --size ${o.size}: formats ${formats.join(", ")}${skipped.length ? ` (not run: ${skipped.join(", ")}; weights over --max-rss-gib ${o.maxRssGiB})` : ""}; cache ${root}`);

  // one-time: checkpoint + adapters, GGUF exports, our weight caches
  const synth = ensureSynthetic(path.join(root, "synthetic"), shape, names.map((name) => ({ name, r: 8, alpha: 16, targets: ["q_proj", "v_proj"] as const })), log, "bf16");
  const llamaOk = ensureLlamaInstalled();
  const gguf = ensureGguf(root, synth.base, synth.adapters, formats, names);
  const weightsDir = path.join(root, "weights");
  await ensureOurCaches(synth.base, weightsDir, formats);
  log(`prepared in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (o.prepareOnly) return;

  const t1 = Date.now();
  const machine = machineLine();
  const runs = o.runs ?? (o.size === "7b" ? 1 : 3);
  const bandwidth = await readBandwidth(threads);
  log(`read bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s (${threads} threads)`);
  const common = { modelDir: synth.base, threads, quick: false, vocab: shape.vocab };
  const perFormat: Record<string, { ours: SideFigures | null; llama: SideFigures | null; bytes: { total: number; perToken: number } }> = {};
  for (const f of formats) {
    // blocks per format: llama.cpp's process runs and exits, then ours (never both in memory)
    const llama = llamaOk ? await runSide(new Side(`llama.cpp ${f}`, "llama-side.ts", { ...common, ggufModel: gguf.models[f], adapters: gguf.adapters }), runs, true, ["S1", "S1-1thread", "S8", "PF"]) : null;
    const ours = await runSide(new Side(`ours ${f}`, "ours-side.ts", { ...common, adapters: Object.fromEntries(synth.adapters), dtype: f, weightCacheDir: weightsDir }), runs, false, ["S1", "S8", "PF"]);
    perFormat[f] = { ours, llama, bytes: weightBytesFor(shape, f) };
  }
  const results = {
    size: o.size, shape, machine, threads, runs, bandwidth, formats: perFormat, skipped, maxRssGiB: o.maxRssGiB,
    loadEnd: os.loadavg()[0], cpuPressureEnd: cpuPressure(), seconds: (Date.now() - t1) / 1000, llamaAvailable: llamaOk,
  };
  const md = renderSized(results);
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, `engine-${o.size}.md`), md);
  fs.writeFileSync(path.join(OUT, `engine-${o.size}.json`), JSON.stringify(results, null, 2));
  process.stdout.write(md);
}

function renderSized(r: {
  size: string; shape: SyntheticShape; machine: string; threads: number; runs: number; bandwidth: number; skipped: readonly string[]; maxRssGiB: number;
  formats: Record<string, { ours: SideFigures | null; llama: SideFigures | null; bytes: { total: number; perToken: number } }>;
  loadEnd: number; cpuPressureEnd: number | null; seconds: number; llamaAvailable: boolean;
}): string {
  const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : "—");
  const med = (xs?: number[]) => (xs && xs.length ? median(xs) : NaN);
  const Z = SETTINGS.sized;
  const lines = [
    `### bench:engine --size ${r.size} (${r.shape.layers} layers, hidden ${r.shape.hidden}, ${r.shape.heads}/${r.shape.kvHeads} heads, FFN ${r.shape.ffn}, vocab ${r.shape.vocab}; synthetic bf16 checkpoint)`,
    "",
    `Machine: ${r.machine}; load average at the end ${r.loadEnd.toFixed(2)}${r.cpuPressureEnd !== null ? `, CPU pressure (PSI avg60) ${r.cpuPressureEnd}%` : ""}. ` +
      `The machine is shared with other jobs: figures move with their load. ${r.threads} threads each side; ${r.runs} run(s) per figure (median); ` +
      `read bandwidth ${(r.bandwidth / 1e9).toFixed(1)} GB/s (bench/engine/bandwidth.ts). llama.cpp = node-llama-cpp 3.21.1 prebuilt CPU binary on GGUF exports of the same weights ` +
      `(bench/engine/gguf-export.ts; Q4_0 keeps token_embd/output Q8_0 as our q4 does); per format llama.cpp ran first in its own process, then ours. ${r.seconds.toFixed(0)} s.`,
    "",
    "| format | figure | ours | llama.cpp | ours ÷ llama.cpp | goal | met |",
    "|---|---|---|---|---|---|---|",
  ];
  const row = (...c: string[]) => lines.push(`| ${c.join(" | ")} |`);
  for (const [f, x] of Object.entries(r.formats)) {
    const fig = (k: "S1" | "S8" | "PF", label: string, goal: number) => {
      const a = med(x.ours?.[k]), b = med(x.llama?.[k]);
      const ratio = a / b;
      row(f, label, f1(a), f1(b), Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "—", `≥ ${goal}x`, Number.isFinite(ratio) ? (ratio >= goal ? "yes" : "no") : "—");
    };
    fig("S1", `single-stream decode tok/s (${Z.prompt} prompt + ${Z.newTokens} new)`, 1);
    const t1 = med(x.llama?.["S1-1thread"]);
    if (Number.isFinite(t1)) {
      row(f, "(for scale: llama.cpp single stream with 1 thread, which has no spinning thread barrier to stall on a busy machine)", "—", f1(t1),
        Number.isFinite(med(x.ours?.S1) / t1) ? `${(med(x.ours?.S1) / t1).toFixed(2)}x` : "—", "—", "—");
    }
    fig("S8", `${Z.streams} streams on ${Z.streams} distinct r=8 q/v adapters, aggregate tok/s`, 4);
    fig("PF", `prefill of a ${Z.prefill}-token prompt, tok/s`, 1);
    const bound = r.bandwidth / x.bytes.perToken;
    const frac = med(x.ours?.S1) / bound;
    row(f, `batch-1 decode ÷ bandwidth bound (${f1(bound)} tok/s = ${(r.bandwidth / 1e9).toFixed(1)} GB/s ÷ ${(x.bytes.perToken / 1e9).toFixed(2)} GB/token)`,
      Number.isFinite(frac) ? `${(100 * frac).toFixed(0)}%` : "—", Number.isFinite(med(x.llama?.S1) / bound) ? `${(100 * med(x.llama?.S1) / bound).toFixed(0)}%` : "—", "—", "≥ 70%", Number.isFinite(frac) ? (frac >= 0.7 ? "yes" : "no") : "—");
    const rssO = x.ours?.rss, rssL = x.llama?.rss;
    const ourBound = rssO ? Number(rssO.weightsMB) + Number(rssO.kvMB) + 600 : NaN;
    row(f, "RSS after load, MiB (ours: ≤ weights + KV pool + 600 MiB)", rssO ? `${Number(rssO.rssMB).toFixed(0)} (bound ${ourBound.toFixed(0)})` : "—", rssL ? Number(rssL.rssMB).toFixed(0) : "—", "—",
      `≤ ${r.maxRssGiB} GiB`, rssO ? (Number(rssO.rssMB) <= ourBound ? "yes" : "no") : "—");
  }
  if (r.skipped.length) lines.push("", `Not run: ${r.skipped.join(", ")} (weights over the ${r.maxRssGiB} GiB RSS cap; \`--formats ${r.skipped.join(",")}\` runs them).`);
  if (!r.llamaAvailable) lines.push("", "llama.cpp columns empty: node-llama-cpp is not installed (bench/llama) on this machine.");
  return `${lines.join("\n")}\n`;
}
