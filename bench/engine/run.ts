/**
 * `npm run bench:engine [-- --quick] [-- --only P1,P3] [-- --runs N]`
 * `npm run bench:engine -- --size 7b` — the 7B-shaped CPU table per weight format (./sized.ts)
 *
 * The P1–P7 figures of docs/PERFORMANCE.md on the synthetic Mistral-shaped model (generated here,
 * bench/out/synthetic), ours side by side with llama.cpp (node-llama-cpp 3.21.1, installed on
 * demand into bench/llama/node_modules, prebuilt CPU binary only) on the same weights and adapters
 * exported to GGUF by bench/engine/gguf-export.ts. Each side runs in its own process; their runs
 * interleave figure by figure, so both meet the same machine load. No new run starts after
 * --budget-s seconds (default 540; the machine is shared and can be slow). Writes bench/out/engine.md
 * (+ engine.json, p4.svg/png).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BENCH_SHAPE, ensureSynthetic, qvName } from "./synthetic";
import { exportAdapterGguf, exportModelGguf } from "./gguf-export";
import { SETTINGS, log, median, percentile } from "./common";
import { Side, cpuPressure, ensureLlamaInstalled, machineLine } from "./side";
import { defaultCacheDir, runSized, SIZED_FORMATS, type Size } from "./sized";
import type { ColdLoadRun } from "./ours-side";
import { renderMarkdown, renderP4Svg, type Results } from "./report";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const OUT = path.join(ROOT, "bench", "out");
const ALL = ["P1", "P2", "P3", "P4", "P5", "P6", "P7"];
/** bump when the GGUF export changes */
const EXPORT_VERSION = 1;

const USAGE = "usage: npm run bench:engine -- [--quick] [--only P1,P3] [--runs N] [--budget-s S] [--no-profile]\n" +
  "       npm run bench:engine -- --size 7b|small [--formats q8,q4,bf16] [--cache-dir DIR] [--prepare] [--runs N] [--max-rss-gib G]   (bench/engine/sized.ts)\n";

function parseArgs(argv: string[]) {
  const out = {
    quick: false, only: ALL, runs: null as number | null, budgetS: 540, profile: true,
    size: null as Size | null, formats: null as (typeof SIZED_FORMATS)[number][] | null, cacheDir: defaultCacheDir(), prepare: false, maxRssGiB: 12,
  };
  const bad = (msg: string): never => {
    process.stderr.write(`bench:engine: ${msg}\n${USAGE}`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--size") {
      const v = argv[++i];
      if (v !== "7b" && v !== "small") bad(`--size must be 7b or small, got "${v}"`);
      out.size = v as Size;
    } else if (a === "--formats") {
      const v = (argv[++i] ?? "").split(",").map((x) => x.trim()).filter(Boolean);
      const wrong = v.filter((x) => !(SIZED_FORMATS as readonly string[]).includes(x));
      if (!v.length || wrong.length) bad(`--formats takes some of ${SIZED_FORMATS.join(",")}, got "${argv[i] ?? ""}"`);
      out.formats = v as (typeof SIZED_FORMATS)[number][];
    } else if (a === "--cache-dir") out.cacheDir = path.resolve(argv[++i] ?? bad("--cache-dir needs a folder"));
    else if (a === "--prepare") out.prepare = true;
    else if (a === "--max-rss-gib") out.maxRssGiB = Number(argv[++i]);
    else if (a === "--quick") out.quick = true;
    else if (a === "--only") out.only = (argv[++i] ?? "").split(",").map((s) => s.trim().toUpperCase()).filter(Boolean);
    else if (a.startsWith("--only=")) out.only = a.slice(7).split(",").map((s) => s.trim().toUpperCase()).filter(Boolean);
    else if (a === "--runs") out.runs = Number(argv[++i]);
    else if (a === "--budget-s") out.budgetS = Number(argv[++i]);
    else if (a === "--no-profile") out.profile = false;
    else bad(`unknown argument ${a}`);
  }
  if (!(out.maxRssGiB > 0)) bad("--max-rss-gib must be a positive number");
  if (out.cacheDir.startsWith(ROOT + path.sep)) bad(`--cache-dir ${out.cacheDir} is inside the repository; the 7B files (~40 GB) belong outside it`);
  const unknown = out.only.filter((f) => !ALL.includes(f) && f !== "CHECK");
  if (unknown.length || out.only.length === 0 || (out.runs !== null && !(out.runs >= 1)) || !(out.budgetS > 0)) {
    bad(`--only takes figures among ${ALL.join(",")}; --runs a positive integer`);
  }
  return out;
}

function ensureGguf(synthRoot: string, base: string, adapters: Map<string, string>, names: string[]): { model: string; adapters: Record<string, string> } {
  const dir = path.join(OUT, "gguf");
  const stamp = `${EXPORT_VERSION}:${fs.readFileSync(path.join(synthRoot, "stamp.json"), "utf8")}:${names.join(",")}`;
  const stampFile = path.join(dir, "stamp.txt");
  const model = path.join(dir, "base.gguf");
  const files = Object.fromEntries(names.map((n) => [n, path.join(dir, `${n}.gguf`)]));
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, "utf8") === stamp) return { model, adapters: files };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  exportModelGguf(base, model, "loraland-bench-synthetic-mistral");
  for (const n of names) exportAdapterGguf(adapters.get(n)!, base, files[n]);
  fs.writeFileSync(stampFile, stamp);
  log(`exported GGUF model + ${names.length} adapters in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { model, adapters: files };
}

const fmt = (xs: number[], d = 1) => xs.map((x) => x.toFixed(d)).join(" ");
const rate = (runs: number[]) => ({ tokPerS: median(runs), runs });
async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.size) {
    await runSized({ size: args.size, formats: args.formats, cacheDir: args.cacheDir, prepareOnly: args.prepare, runs: args.runs, maxRssGiB: args.maxRssGiB });
    return;
  }
  const t0 = Date.now();
  const elapsed = () => (Date.now() - t0) / 1000;
  const figures = args.only;
  const want = (f: string) => figures.includes(f);
  const runs = args.runs ?? (args.quick ? 2 : 3);
  const machine = machineLine();
  log(`bench:engine ${figures.join(",")} runs=${runs}${args.quick ? " (quick)" : ""}, time budget ${args.budgetS} s; ${machine}`);

  const synth = ensureSynthetic(path.join(OUT, "synthetic"), BENCH_SHAPE, undefined, log);
  const threads = Math.min(2, os.cpus().length);
  const common = { modelDir: synth.base, threads, quick: args.quick, vocab: BENCH_SHAPE.vocab };
  const results: Results = { machine, runs: 0, quick: args.quick, threads, ours: {}, llama: {}, llamaAvailable: false, cpuPressureStart: cpuPressure() };

  let llama: Side | null = null;
  if (["P1", "P3", "P6"].some(want) && ensureLlamaInstalled()) {
    const gguf = ensureGguf(synth.root, synth.base, synth.adapters, [...Array.from({ length: 8 }, (_, i) => qvName(i)), "all-r16"]);
    llama = new Side("llama.cpp side", "llama-side.ts", { ...common, ggufModel: gguf.model, adapters: gguf.adapters });
    if (!(await llama.ready())) llama = null;
  }
  results.llamaAvailable = llama !== null;
  let ours: Side | null = null;
  if (figures.some((f) => f !== "P7")) {
    ours = new Side("our side", "ours-side.ts", { ...common, adapters: Object.fromEntries(synth.adapters) });
    if (!(await ours.ready())) ours = null;
  }

  // runs interleave the two sides figure by figure, so both meet the same machine load
  const o = { P1: [] as number[], P2: [] as { base: number; hetero: number }[], P4: [] as number[][], P5: [] as ColdLoadRun[], P6: [] as number[] };
  const l = { P1: [] as number[], P1t1: [] as number[], P3: [] as number[], base8: [] as number[], P6: [] as number[] };
  const push = <T>(xs: T[], x: T | null | undefined) => { if (x !== null && x !== undefined) xs.push(x); };
  for (let r = 0; r < runs; r++) {
    if (r > 0 && elapsed() > args.budgetS) {
      log(`time budget reached after ${r} runs`);
      break;
    }
    if (want("P1")) {
      push(l.P1, await llama?.ask<number>("P1", r));
      push(o.P1, await ours?.ask<number>("P1", r));
      push(l.P1t1, await llama?.ask<number>("P1-1thread", r));
      log(`run ${r + 1}/${runs} P1 ours ${fmt(o.P1)} | llama.cpp ${fmt(l.P1)} (1 thread: ${fmt(l.P1t1)}) tok/s`);
    }
    if (want("P2") || want("P3")) {
      push(o.P2, await ours?.ask<{ base: number; hetero: number }>("P2", r));
      if (want("P3")) {
        push(l.P3, await llama?.ask<number>("P3", r));
        push(l.base8, await llama?.ask<number>("base8", r));
      }
      log(`run ${r + 1}/${runs} ours 8 base ${fmt(o.P2.map((x) => x.base))} / 8 adapters ${fmt(o.P2.map((x) => x.hetero))} | llama.cpp 8 adapters ${fmt(l.P3)} / 8 base ${fmt(l.base8)} tok/s`);
    }
    if (want("P6")) {
      push(l.P6, await llama?.ask<number>("P6", r));
      push(o.P6, await ours?.ask<number>("P6", r));
      log(`run ${r + 1}/${runs} P6 ours ${fmt(o.P6, 0)} | llama.cpp ${fmt(l.P6, 0)} prompt tok/s`);
    }
    if (want("P4") && (!args.quick || r === 0)) {
      push(o.P4, await ours?.ask<number[]>("P4", r));
      log(`run ${r + 1}/${runs} P4 ours ${o.P4.map((x) => fmt(x, 0)).join(" | ")} tok/s`);
    }
    if (want("P5")) {
      push(o.P5, await ours?.ask<ColdLoadRun>("P5", r));
      log(`run ${r + 1}/${runs} P5 cold ${fmt(o.P5.map((x) => x.coldMs))} warm ${fmt(o.P5.map((x) => x.warmMs))} ms`);
    }
    results.runs = r + 1;
  }
  if (llama && ours) {
    results.llama.check = await llama.ask("check", 0);
    results.ours.check = await ours.ask("check", 0);
  }
  if (ours && args.profile) results.ours.profile = await ours.ask("profile", 0);
  await llama?.close();
  await ours?.close();

  if (l.P1.length) results.llama.P1 = rate(l.P1);
  if (l.P1t1.length) results.llama.P1t1 = rate(l.P1t1);
  if (l.P3.length) results.llama.P3 = rate(l.P3);
  if (l.base8.length) results.llama.base8 = rate(l.base8);
  if (l.P6.length) results.llama.P6 = rate(l.P6);
  if (o.P1.length) results.ours.P1 = rate(o.P1);
  if (o.P6.length) results.ours.P6 = rate(o.P6);
  if (o.P2.length) {
    const base = o.P2.map((x) => x.base), hetero = o.P2.map((x) => x.hetero);
    results.ours.P2 = { base: median(base), hetero: median(hetero), ratio: median(o.P2.map((x) => x.hetero / x.base)), baseRuns: base, heteroRuns: hetero };
    results.ours.P3 = rate(hetero);
  }
  if (o.P4.length) results.ours.P4 = SETTINGS.p4.adapterCounts.map((k, i) => ({ adapters: k, ...rate(o.P4.map((x) => x[i])) }));
  if (o.P5.length) {
    const diffs = o.P5.map((x) => x.coldMs - x.warmMs);
    const loadMs = median(diffs);
    results.ours.P5 = {
      adapterBytes: o.P5[0].adapterBytes, ttftColdMs: median(o.P5.map((x) => x.coldMs)), ttftWarmMs: median(o.P5.map((x) => x.warmMs)),
      coldMinusWarmMs: loadMs, mbPerS: o.P5[0].adapterBytes / 1e6 / (loadMs / 1000),
      p99GapQuietMs: percentile(o.P5.flatMap((x) => x.gapsQuiet), 99), p99GapLoadMs: percentile(o.P5.flatMap((x) => x.gapsLoad), 99),
      runs: diffs,
    };
  }
  if (want("P7")) {
    const mem = new Side("our side (P7, fresh process)", "ours-side.ts", { ...common, adapters: Object.fromEntries(synth.adapters) }, ["--memory"]);
    if (await mem.ready()) results.ours.P7 = await mem.ask("P7", 0);
    await mem.close();
  }

  results.cpuPressureEnd = cpuPressure();
  const md = renderMarkdown(results, elapsed());
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, "engine.md"), md);
  fs.writeFileSync(path.join(OUT, "engine.json"), JSON.stringify(results, null, 2));
  if (results.ours.P4) await writeChart(renderP4Svg(results.ours.P4 as never));
  process.stdout.write(md);
}

/** P4 chart: the SVG always, a PNG through headless Chromium when it is there. */
async function writeChart(svg: string): Promise<void> {
  const svgFile = path.join(OUT, "p4.svg");
  fs.writeFileSync(svgFile, svg);
  const exe = process.env.CHROME_PATH || "/usr/bin/chromium";
  if (!fs.existsSync(exe)) return;
  try {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: exe });
    const page = await browser.newPage({ viewport: { width: 640, height: 360 } });
    await page.setContent(`<body style="margin:0">${svg}</body>`);
    await page.screenshot({ path: path.join(OUT, "p4.png") });
    await browser.close();
  } catch (e) {
    log(`P4 PNG skipped: ${(e as Error).message.split("\n")[0]}`);
  }
}

main().catch((e) => { log(String(e?.stack ?? e)); process.exit(1); });
